"""The demo data set: deterministic (seeded random) and idempotent (safe to run again)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model

from monolith.catalog import services as catalog_services
from monolith.catalog.models import Category, Product
from monolith.orders import services as order_services
from monolith.users import services as user_services


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    email: str
    is_staff: bool = False


DEMO_USERS = (
    DemoUser("alice", "alice-demo-pass", "alice@example.com"),
    DemoUser("bob", "bob-demo-pass", "bob@example.com"),
    DemoUser("staff", "staff-demo-pass", "staff@example.com", is_staff=True),
)
CATEGORIES = {
    "books": "Books",
    "coffee": "Coffee",
    "garden": "Garden",
    "kitchen": "Kitchen",
    "music": "Music",
    "outdoor": "Outdoor",
    "stationery": "Stationery",
    "toys": "Toys",
}
ADJECTIVES = [
    "Classic",
    "Compact",
    "Deluxe",
    "Everyday",
    "Handmade",
    "Light",
    "Rugged",
    "Smart",
    "Tiny",
    "Vintage",
]
NOUNS = [
    "Kit",
    "Set",
    "Box",
    "Lamp",
    "Mug",
    "Bag",
    "Guide",
    "Planter",
    "Kettle",
    "Notebook",
    "Speaker",
    "Puzzle",
]
PRODUCT_COUNT = 300
SEED = 2026


@dataclass
class SeedReport:
    users: int = 0
    products: int = 0
    orders: int = 0


def demo_seed(*, products: int = PRODUCT_COUNT) -> SeedReport:
    report = SeedReport()
    rng = random.Random(SEED)
    users = {}
    User = get_user_model()
    for demo in DEMO_USERS:
        user = User.objects.filter(username=demo.username).first()
        if user is None:
            user = user_services.user_register(
                username=demo.username,
                email=demo.email,
                password=demo.password,
                is_staff=demo.is_staff,
            )
            report.users += 1
        users[demo.username] = user

    for slug, name in CATEGORIES.items():
        if not Category.objects.filter(slug=slug).exists():
            catalog_services.category_create(slug=slug, name=name)
    existing = set(Product.objects.values_list("sku", flat=True))
    slugs = sorted(CATEGORIES)
    for index in range(1, products + 1):
        slug = slugs[index % len(slugs)]
        sku = f"{slug[:3].upper()}-{index:04d}"
        name = f"{rng.choice(ADJECTIVES)} {CATEGORIES[slug].rstrip('s')} {rng.choice(NOUNS)}"
        price = Decimal(rng.randrange(199, 19999)) / 100
        on_hand = 0 if index % 17 == 0 else rng.randrange(5, 200)
        if sku in existing:
            continue
        catalog_services.product_create(
            sku=sku,
            name=name,
            description=f"{name}: a demo product of the {CATEGORIES[slug].lower()} department.",
            category=slug,
            price=price,
            on_hand=on_hand,
        )
        report.products += 1

    for number, (username, skus) in enumerate(
        [
            ("alice", ["BOO-0008", "COF-0001"]),
            ("alice", ["GAR-0002"]),
            ("bob", ["KIT-0003", "MUS-0004"]),
        ],
        start=1,
    ):
        lines = [order_services.OrderLineIn(sku=sku, quantity=1) for sku in skus]
        _order, created = order_services.order_place(
            customer=users[username], lines=lines, idempotency_key=f"demo-seed-{number}"
        )
        report.orders += int(created)
    return report
