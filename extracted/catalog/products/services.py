"""Writes on the catalog service's products.

Two kinds: the owner's writes (`product_create`, ...), allowed only while `ownership.yaml`
names this service the owner, which emit events through this service's outbox; and the
`*_apply_*` functions, which mirror another service's events into this database (the inbox runs
them; echo protection keeps them from being emitted back).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from contracts.catalog import (
    CategoryCreatedV1,
    ProductCreatedV1,
    ProductPriceChangedV1,
    ProductUpdatedV1,
    StockChangedV2,
)
from extracted.catalog.products.models import Category, Inventory, PriceChange, Product
from extracted.catalog.stock.eventstore import counted, stock_change
from servicekit.events.outbox import outbox_enqueue
from servicekit.migration.ownership import require_ownership
from servicekit.web.errors import InvalidInputError

UPDATABLE_FIELDS = ("name", "description", "category", "is_active")


def _category(slug: str) -> Category:
    try:
        return Category.objects.get(slug=slug)
    except Category.DoesNotExist:
        raise InvalidInputError(
            f"No category with slug {slug!r}.", code="unknown_category"
        ) from None


def _updated_event(product: Product) -> ProductUpdatedV1:
    return ProductUpdatedV1(
        sku=product.sku,
        name=product.name,
        description=product.description,
        category=product.category.slug,
        is_active=product.is_active,
    )


# --- the owner's writes -------------------------------------------------------------------


@transaction.atomic
def category_create(*, slug: str, name: str) -> Category:
    require_ownership("product")
    category = Category.objects.create(slug=slug, name=name)
    outbox_enqueue(CategoryCreatedV1(slug=slug, name=name))
    return category


@transaction.atomic
def product_create(
    *,
    sku: str,
    name: str,
    category: str,
    price: Decimal,
    currency: str = "EUR",
    description: str = "",
    is_active: bool = True,
    on_hand: int = 0,
) -> Product:
    require_ownership("product")
    product = Product.objects.create(
        sku=sku,
        name=name,
        description=description,
        category=_category(category),
        price=price,
        currency=currency,
        is_active=is_active,
    )
    Inventory.objects.create(product=product)
    stock = stock_change(sku=sku, decide=counted(on_hand=on_hand, reason="created"), reason=None)
    outbox_enqueue(
        ProductCreatedV1(
            sku=sku,
            name=name,
            description=description,
            category=category,
            price=str(product.price),
            currency=currency,
            is_active=is_active,
            on_hand=stock.on_hand,
            reserved=stock.reserved,
        )
    )
    return product


@transaction.atomic
def product_update(*, product: Product, **changes) -> Product:
    require_ownership("product")
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ValueError(f"not updatable here: {sorted(unknown)}")
    if "category" in changes:
        changes["category"] = _category(changes["category"])
    fields = [name for name, value in changes.items() if getattr(product, name) != value]
    if not fields:
        return product
    for name in fields:
        setattr(product, name, changes[name])
    product.save(update_fields=[*fields, "updated_at"])
    outbox_enqueue(_updated_event(product))
    return product


@transaction.atomic
def product_update_price(
    *, product: Product, new_price: Decimal, changed_by_id: int | None = None
) -> Product:
    require_ownership("product")
    product = Product.objects.select_for_update().get(pk=product.pk)
    old_price = product.price
    if old_price == new_price:
        return product
    product.price = new_price
    product.save(update_fields=["price", "updated_at"])
    PriceChange.objects.create(
        product=product, old_price=old_price, new_price=new_price, changed_by_id=changed_by_id
    )
    outbox_enqueue(
        ProductPriceChangedV1(
            sku=product.sku,
            old_price=str(old_price),
            new_price=str(new_price),
            currency=product.currency,
        )
    )
    return product


@transaction.atomic
def stock_set(
    *, product: Product, on_hand: int, reserved: int | None = None, reason: str = "adjustment"
) -> Inventory:
    """Set the counted levels: an `adjusted` event on the sku's stream (stock/eventstore.py);
    after repeated concurrent writes, `StockConcurrencyError` (409)."""
    require_ownership("inventory")
    stock_change(
        sku=product.sku,
        decide=counted(on_hand=on_hand, reserved=reserved, reason=reason),
        reason=reason,
    )
    return Inventory.objects.get(product=product)


# --- mirroring the owner's events (the inbox calls these inside its transaction) -----------


def category_apply_created(event: CategoryCreatedV1) -> None:
    Category.objects.update_or_create(slug=event.slug, defaults={"name": event.name})


def product_apply_created(event: ProductCreatedV1) -> None:
    category, _ = Category.objects.get_or_create(
        slug=event.category, defaults={"name": event.category.replace("-", " ").title()}
    )
    product, _ = Product.objects.update_or_create(
        sku=event.sku,
        defaults={
            "name": event.name,
            "description": event.description,
            "category": category,
            "price": Decimal(event.price),
            "currency": event.currency,
            "is_active": event.is_active,
        },
    )
    Inventory.objects.get_or_create(product=product)
    _stock_mirror(event.sku, on_hand=event.on_hand, reserved=event.reserved)


def _stock_mirror(sku: str, *, on_hand: int, reserved: int) -> None:
    """The owner's level as an `adjusted` event here (the owner published it already)."""
    stock_change(
        sku=sku, decide=counted(on_hand=on_hand, reserved=reserved, reason="mirror"), reason=None
    )


def _product(sku: str) -> Product:
    # The inbox applies an aggregate's events in order, so `created` always came first.
    return Product.objects.select_related("category").get(sku=sku)


def product_apply_updated(event: ProductUpdatedV1) -> None:
    product = _product(event.sku)
    category, _ = Category.objects.get_or_create(
        slug=event.category, defaults={"name": event.category.replace("-", " ").title()}
    )
    product.name, product.description = event.name, event.description
    product.category, product.is_active = category, event.is_active
    product.save(update_fields=["name", "description", "category", "is_active", "updated_at"])


def product_apply_price_changed(event: ProductPriceChangedV1, *, changed_at=None) -> None:
    product = _product(event.sku)
    product.price = Decimal(event.new_price)
    product.save(update_fields=["price", "updated_at"])
    change = PriceChange.objects.create(
        product=product, old_price=Decimal(event.old_price), new_price=Decimal(event.new_price)
    )
    if changed_at is not None:
        PriceChange.objects.filter(pk=change.pk).update(changed_at=changed_at)


def stock_apply_changed(event: StockChangedV2) -> None:
    # a product missing here is not ours to stock (the product's own events create it)
    if Inventory.objects.filter(product__sku=event.sku).exists():
        _stock_mirror(event.sku, on_hand=event.on_hand, reserved=event.reserved)
