"""The monolith's side of product and stock reconciliation once the catalog service owns them
(servicekit/migration/reconcile.py): the catalog's export is the peer; our copy is repaired
through the mirror consumer's apply functions."""

from __future__ import annotations

from decimal import Decimal

from contracts.catalog import ProductCreatedV1, StockChangedV2
from monolith.catalog import services
from monolith.catalog.models import Inventory, Product
from servicekit.migration.reconcile import ReconcileAdapter

PRODUCT_FIELDS = ("sku", "name", "description", "category", "price", "currency", "is_active")


class ProductMirror(ReconcileAdapter):
    name = entity = "product"
    peer = "catalog"
    export_path = "/api/v1/catalog/export/"
    rows = "products"
    key_field = "sku"
    fields = PRODUCT_FIELDS
    consumer, aggregate_type = "monolith.catalog", "product"

    def normalise(self, row):
        price = str(Decimal(str(row["price"])).quantize(Decimal("0.01")))
        return {**super().normalise(row), "price": price}

    def local_rows(self, keys):
        query = Product.objects.select_related("category", "inventory").filter(sku__in=keys)
        return {
            p.sku: {
                **{name: getattr(p, name) for name in PRODUCT_FIELDS if name != "category"},
                "category": p.category.slug,
            }
            for p in query
        }

    def local_keys(self):
        return Product.objects.values_list("sku", flat=True).iterator()

    def apply(self, row):
        services.product_apply_created(
            ProductCreatedV1(
                **{name: row[name] for name in PRODUCT_FIELDS if name != "price"},
                price=str(Decimal(str(row["price"]))),
                on_hand=row["on_hand"],
                reserved=row["reserved"],
            )
        )

    def remove(self, key):
        return False  # a product only the monolith has may be on orders: a person decides


class InventoryMirror(ReconcileAdapter):
    name = entity = "inventory"
    peer = "catalog"
    export_path = "/api/v1/catalog/export/"
    rows = "products"
    key_field = "sku"
    fields = ("on_hand", "reserved")
    consumer, aggregate_type = "monolith.catalog", "product"

    def local_rows(self, keys):
        rows = Inventory.objects.filter(product__sku__in=keys).values_list(
            "product__sku", "on_hand", "reserved"
        )
        return {sku: {"sku": sku, "on_hand": on, "reserved": res} for sku, on, res in rows}

    def local_keys(self):
        return Inventory.objects.values_list("product__sku", flat=True).iterator()

    def apply(self, row):
        services.stock_apply_changed(
            StockChangedV2(
                sku=row["sku"],
                on_hand=row["on_hand"],
                reserved=row["reserved"],
                available=row["on_hand"] - row["reserved"],
                reason="reconcile",
            )
        )

    def remove(self, key):
        return False  # the product's reconciliation reports it
