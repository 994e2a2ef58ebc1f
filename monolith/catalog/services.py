"""Writes on the catalog: products, prices and stock, each with its outbox event."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from django.db import transaction
from django.db.models import F

from contracts.catalog import (
    CategoryCreatedV1,
    ProductCreatedV1,
    ProductPriceChangedV1,
    ProductUpdatedV1,
    StockChangedV1,
    StockChangedV2,
)
from monolith.catalog.models import Category, Inventory, PriceChange, Product
from servicekit.events.outbox import outbox_enqueue
from servicekit.migration.ownership import require_ownership
from servicekit.web.errors import ApplicationError, InvalidInputError

UPDATABLE_FIELDS = ("name", "description", "category", "is_active")


class InsufficientStock(ApplicationError):
    code = "insufficient_stock"
    title = "Insufficient stock"


def _stock_event(product: Product, inventory: Inventory, reason: str) -> StockChangedV1:
    return StockChangedV1(
        sku=product.sku, on_hand=inventory.on_hand, reserved=inventory.reserved, reason=reason
    )


def _category(slug: str) -> Category:
    try:
        return Category.objects.get(slug=slug)
    except Category.DoesNotExist:
        raise InvalidInputError(
            f"No category with slug {slug!r}.", code="unknown_category"
        ) from None


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
    inventory = Inventory.objects.create(product=product, on_hand=on_hand)
    outbox_enqueue(
        ProductCreatedV1(
            sku=product.sku,
            name=product.name,
            description=product.description,
            category=product.category.slug,
            price=str(product.price),
            currency=product.currency,
            is_active=product.is_active,
            on_hand=inventory.on_hand,
            reserved=inventory.reserved,
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
    outbox_enqueue(
        ProductUpdatedV1(
            sku=product.sku,
            name=product.name,
            description=product.description,
            category=product.category.slug,
            is_active=product.is_active,
        )
    )
    return product


@transaction.atomic
def product_update_price(*, product: Product, new_price: Decimal, changed_by=None) -> Product:
    require_ownership("product")
    product = Product.objects.select_for_update().get(pk=product.pk)
    old_price = product.price
    if old_price == new_price:
        return product
    product.price = new_price
    product.save(update_fields=["price", "updated_at"])
    PriceChange.objects.create(
        product=product, old_price=old_price, new_price=new_price, changed_by=changed_by
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
    """Staff count: set absolute levels (reserved may not exceed on hand)."""
    require_ownership("inventory")
    inventory = Inventory.objects.select_for_update().get(product=product)
    reserved = inventory.reserved if reserved is None else reserved
    if reserved > on_hand:
        raise InvalidInputError(
            f"reserved ({reserved}) cannot exceed on_hand ({on_hand}).",
            code="reserved_exceeds_on_hand",
        )
    if (inventory.on_hand, inventory.reserved) == (on_hand, reserved):
        return inventory
    inventory.on_hand, inventory.reserved = on_hand, reserved
    inventory.save(update_fields=["on_hand", "reserved", "updated_at"])
    outbox_enqueue(_stock_event(product, inventory, reason))
    return inventory


def stock_take(*, quantities: Mapping[int, int], reason: str) -> None:
    """Take units of several products off the shelf, all or none.

    Call inside an atomic block. Each row is changed by one conditional UPDATE, so two orders
    racing for the last unit cannot both win on any database; products are visited in id order
    so concurrent multi-line orders never deadlock.
    """
    require_ownership("inventory")
    short: list[dict] = []
    for product_id in sorted(quantities):
        quantity = quantities[product_id]
        taken = Inventory.objects.filter(
            product_id=product_id, on_hand__gte=F("reserved") + quantity
        ).update(on_hand=F("on_hand") - quantity)
        if not taken:
            inventory = Inventory.objects.select_related("product").get(product_id=product_id)
            short.append(
                {
                    "sku": inventory.product.sku,
                    "requested": quantity,
                    "available": inventory.available,
                }
            )
    if short:
        raise InsufficientStock(
            "Not enough stock for " + ", ".join(item["sku"] for item in short) + ".",
            details={"shortages": short},
        )
    _emit_stock_events(quantities, reason)


def stock_return(*, quantities: Mapping[int, int], reason: str) -> None:
    """Put units back on the shelf (a cancelled order). Call inside an atomic block."""
    require_ownership("inventory")
    for product_id in sorted(quantities):
        Inventory.objects.filter(product_id=product_id).update(
            on_hand=F("on_hand") + quantities[product_id]
        )
    _emit_stock_events(quantities, reason)


def _emit_stock_events(quantities: Mapping[int, int], reason: str) -> None:
    inventories = Inventory.objects.select_related("product").filter(product_id__in=quantities)
    for inventory in sorted(inventories, key=lambda inv: inv.product_id):
        outbox_enqueue(_stock_event(inventory.product, inventory, reason))


# --- mirroring the catalog service's events once it owns the data (phase 2) -----------------
# The inbox runs these inside its transaction; echo protection keeps them from re-emitting.


def category_apply_created(event: CategoryCreatedV1) -> None:
    Category.objects.update_or_create(slug=event.slug, defaults={"name": event.name})


def _category_for(slug: str) -> Category:
    category, _ = Category.objects.get_or_create(
        slug=slug, defaults={"name": slug.replace("-", " ").title()}
    )
    return category


def product_apply_created(event: ProductCreatedV1) -> None:
    product, _ = Product.objects.update_or_create(
        sku=event.sku,
        defaults={
            "name": event.name,
            "description": event.description,
            "category": _category_for(event.category),
            "price": Decimal(event.price),
            "currency": event.currency,
            "is_active": event.is_active,
        },
    )
    Inventory.objects.update_or_create(
        product=product, defaults={"on_hand": event.on_hand, "reserved": event.reserved}
    )


def product_apply_updated(event: ProductUpdatedV1) -> None:
    product = Product.objects.get(sku=event.sku)
    product.name, product.description = event.name, event.description
    product.category, product.is_active = _category_for(event.category), event.is_active
    product.save(update_fields=["name", "description", "category", "is_active", "updated_at"])


def product_apply_price_changed(event: ProductPriceChangedV1) -> None:
    product = Product.objects.get(sku=event.sku)
    product.price = Decimal(event.new_price)
    product.save(update_fields=["price", "updated_at"])
    PriceChange.objects.create(
        product=product, old_price=Decimal(event.old_price), new_price=Decimal(event.new_price)
    )


def stock_apply_changed(event: StockChangedV2) -> None:
    Inventory.objects.filter(product__sku=event.sku).update(
        on_hand=event.on_hand, reserved=event.reserved
    )
