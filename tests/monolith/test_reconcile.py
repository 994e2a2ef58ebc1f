"""The monolith as the mirror: products, stock and accounts an extracted service owns."""

from decimal import Decimal

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client

from monolith.catalog.models import Inventory, Product
from monolith.notifications.models import Notification
from monolith.users.models import User
from servicekit.migration.ownership import ownership_set
from tests.monolith.factories import CategoryFactory, ProductFactory, UserFactory
from tests.support.export_rows import product_export_row
from tests.support.reconcile import FakeExport, drift_gauges, drift_kinds, reconcile_here

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def extracted_owners(settings, tmp_path):
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")
    settings.DATA_DIR = tmp_path
    for entity, owner in (
        ("product", "catalog"),
        ("inventory", "catalog"),
        ("user", "users"),
        ("notification", "notifications"),
    ):
        ownership_set(entity, owner)


def test_products_and_stock_the_catalog_owns_are_repaired_here():
    kitchen = CategoryFactory(slug="kitchen", name="Kitchen")
    ProductFactory(sku="MUG-1", name="Mug", description="", category=kitchen, price="4.50")
    ProductFactory(sku="MUG-2", name="Mug", description="", category=kitchen, price="9.99")
    ProductFactory(sku="OLD-1", category=kitchen)
    Inventory.objects.filter(product__sku="MUG-1").update(on_hand=3)
    export = FakeExport().serve(
        "/api/v1/catalog/export/",
        "products",
        [product_export_row(s, 1) for s in ("MUG-1", "MUG-2", "MUG-3")],
        categories=[],
    )

    found = reconcile_here(export, names=["product", "inventory"])

    assert drift_kinds(found["product"]) == [
        ("MUG-2", "different"),
        ("MUG-3", "missing"),
        ("OLD-1", "extra"),
    ]
    assert drift_kinds(found["inventory"]) == [
        ("MUG-1", "different"),
        ("MUG-3", "missing"),
        ("OLD-1", "extra"),
    ]
    assert (found["product"].owner, found["product"].mirror) == ("catalog", "monolith")

    repaired = reconcile_here(export, names=["product", "inventory"], fix=True)

    assert Product.objects.get(sku="MUG-2").price == Decimal("4.50")
    assert Inventory.objects.get(product__sku="MUG-1").on_hand == 10
    assert Product.objects.filter(sku="MUG-3").exists()
    # a product only the monolith has may be on orders: reported, never deleted
    assert repaired["product"].remaining == 1 and Product.objects.filter(sku="OLD-1").exists()
    assert drift_gauges(Client()) == {"product": 1, "inventory": 1}


def test_accounts_the_users_service_owns_are_repaired_here():
    UserFactory(id=5, username="ann", email="old@example.com")
    row = {
        "id": 5,
        "username": "ann",
        "email": "ann@example.com",
        "first_name": "",
        "last_name": "",
        "is_staff": False,
        "is_active": True,
        "date_joined": "2026-01-01T00:00:00Z",
        "password_hash": make_password("pw-12345678"),
        "sequence": 1,
    }
    export = FakeExport().serve(
        "/api/v1/users/export/",
        "users",
        [row, {**row, "id": 6, "username": "bo", "email": "bo@example.com"}],
    )

    found = reconcile_here(export, names=["user"])["user"]
    reconcile_here(export, names=["user"], fix=True)

    assert drift_kinds(found) == [("5", "different"), ("6", "missing")]
    assert User.objects.get(pk=5).email == "ann@example.com"
    assert User.objects.get(pk=6).password == row["password_hash"]
    assert reconcile_here(export, names=["user"])["user"].clean


def test_notifications_the_service_owns_are_repaired_here():
    user = UserFactory()

    def exported(order_id, **overrides):
        return {
            "id": order_id,
            "user_id": user.pk,
            "kind": "order_placed",
            "order_id": order_id,
            "title": f"Order {order_id} placed",
            "body": "Thanks.",
            "read_at": None,
            "created_at": "2026-03-01T12:00:00+00:00",
            "sequence": 1,
            **overrides,
        }

    for order_id, title in ((1, "Changed"), (9, "Only here")):
        Notification.objects.create(
            user=user, kind="order_placed", order_id=order_id, title=title, body="Thanks."
        )
    read = exported(2, read_at="2026-03-02T08:00:00+00:00")
    export = FakeExport().serve(
        "/api/v1/notifications/export/", "notifications", [exported(1), read]
    )

    found = reconcile_here(export, names=["notification"])["notification"]
    reconcile_here(export, names=["notification"], fix=True)

    key = f"{user.pk}:order_placed:{{}}".format
    assert drift_kinds(found) == [(key(1), "different"), (key(2), "missing"), (key(9), "extra")]
    assert Notification.objects.get(order_id=1).title == "Order 1 placed"
    assert Notification.objects.get(order_id=2).read_at is not None
    assert not Notification.objects.filter(order_id=9).exists()
    assert reconcile_here(export, names=["notification"])["notification"].clean


def test_orders_the_orders_service_owns_are_repaired_here(settings, tmp_path):
    from monolith.orders.models import Order, OrderLine

    ownership_set("order", "orders")
    customer = UserFactory()
    mug = ProductFactory(sku="MUG-1", price="10.00")

    def exported(order_id, *, status="confirmed", quantity=1, sequence=2):
        return {
            "id": order_id,
            "customer_id": customer.pk,
            "status": status,
            "total": f"{10 * quantity}.00",
            "currency": "EUR",
            "lines": [
                {"sku": "MUG-1", "name": mug.name, "unit_price": "10.00", "quantity": quantity}
            ],
            "idempotency_key": None,
            "request_fingerprint": "",
            "created_at": "2026-03-01T09:30:00+00:00",
            "sequence": sequence,
            "checkout": None,
        }

    stale = Order.objects.create(pk=701, customer=customer, status="pending", total="20.00")
    OrderLine.objects.create(
        order=stale, product=mug, sku="MUG-1", name=mug.name, unit_price="10.00", quantity=2
    )
    Order.objects.create(pk=790, customer=customer, status="confirmed", total="0.00")
    export = FakeExport().serve("/api/v1/orders/export/", "orders", [exported(701), exported(702)])

    found = reconcile_here(export, names=["order"])["order"]
    assert drift_kinds(found) == [("701", "different"), ("702", "missing"), ("790", "extra")]
    assert (found.owner, found.mirror) == ("orders", "monolith")

    reconcile_here(export, names=["order"], fix=True)

    repaired = Order.objects.get(pk=701)
    assert (repaired.status, repaired.total) == ("confirmed", Decimal("10.00"))
    assert list(repaired.lines.values_list("quantity", flat=True)) == [1]
    assert Order.objects.get(pk=702).lines.count() == 1
    # an order only the monolith has was placed before the split: reported, never deleted
    assert Order.objects.filter(pk=790).exists()
    assert drift_kinds(reconcile_here(export, names=["order"])["order"]) == [("790", "extra")]
