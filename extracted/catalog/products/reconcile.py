"""The catalog's side of product and category reconciliation (servicekit/migration/reconcile.py).

The monolith's export is the peer. While the monolith owns products, our copy is repaired through
the consumer's `*_apply_*` functions; once we own them, the monolith's copy is repaired by events
from our outbox, which its mirror consumer applies in sequence after everything we published
before. Rows only the monolith has cannot be repaired by events (there is no delete event).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from contracts.catalog import CategoryCreatedV1, ProductPriceChangedV1
from extracted.catalog.products import services
from extracted.catalog.products.backfill import _product_event
from extracted.catalog.products.models import Category, Product
from servicekit.events.outbox import outbox_enqueue
from servicekit.migration.reconcile import Drift, ReconcileAdapter

PRODUCT_FIELDS = ("sku", "name", "description", "category", "price", "currency", "is_active")


def price_text(value: Any) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def product_row(product: Product) -> dict[str, Any]:
    inventory = getattr(product, "inventory", None)
    return {
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "category": product.category.slug,
        "price": str(product.price),
        "currency": product.currency,
        "is_active": product.is_active,
        "on_hand": inventory.on_hand if inventory else 0,
        "reserved": inventory.reserved if inventory else 0,
    }


class ProductMirror(ReconcileAdapter):
    name = entity = "product"
    peer = "monolith"
    export_path = "/api/v1/catalog/export/"
    rows = "products"
    key_field = "sku"
    fields = PRODUCT_FIELDS
    consumer, aggregate_type = "catalog", "product"

    def normalise(self, row):
        return {**super().normalise(row), "price": price_text(row["price"])}

    def local_rows(self, keys):
        query = Product.objects.select_related("category", "inventory").filter(sku__in=keys)
        return {p.sku: product_row(p) for p in query}

    def local_keys(self):
        return Product.objects.values_list("sku", flat=True).iterator()

    def apply(self, row):
        services.product_apply_created(_product_event(row))

    def remove(self, key):
        Product.objects.filter(sku=key).delete()

    def emit(self, drift: Drift) -> int:
        """Owner here: a row the monolith lacks is created, a different one updated (and its
        price changed); a row only the monolith has stays reported."""
        if drift.owner_row is None:
            return 0
        product = Product.objects.select_related("category", "inventory").get(sku=drift.key)
        if drift.kind == "missing":
            outbox_enqueue(_product_event(product_row(product)))
            return 1
        outbox_enqueue(services._updated_event(product))
        theirs = (drift.mirror_row or {}).get("price")
        if theirs is None or Decimal(str(theirs)) == product.price:
            return 1
        outbox_enqueue(
            ProductPriceChangedV1(
                sku=product.sku,
                old_price=price_text(theirs),
                new_price=str(product.price),
                currency=product.currency,
            )
        )
        return 2


class CategoryMirror(ReconcileAdapter):
    """Categories follow products' ownership; every export page carries all of them."""

    name = "category"
    entity = "product"
    peer = "monolith"
    export_path = "/api/v1/catalog/export/"
    rows = "categories"
    key_field = "slug"
    fields = ("slug", "name")
    consumer, aggregate_type = "catalog", "category"

    def local_rows(self, keys):
        return {
            slug: {"slug": slug, "name": name}
            for slug, name in Category.objects.filter(slug__in=keys).values_list("slug", "name")
        }

    def local_keys(self):
        return Category.objects.values_list("slug", flat=True).iterator()

    def apply(self, row):
        services.category_apply_created(CategoryCreatedV1(slug=row["slug"], name=row["name"]))

    def remove(self, key):
        # products still in it keep it: a category is removed once its products are
        Category.objects.filter(slug=key, products__isnull=True).delete()
