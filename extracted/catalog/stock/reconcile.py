"""The catalog's side of stock reconciliation: on hand and reserved per sku, against the
monolith's catalog export (servicekit/migration/reconcile.py). Stock follows `inventory`
ownership, which may move apart from products' (migrations_plan/ chapter 07)."""

from __future__ import annotations

from contracts.catalog import StockChangedV2
from extracted.catalog.products import services
from extracted.catalog.products.models import Inventory
from extracted.catalog.stock.eventstore import stock_changed_event
from servicekit.events.outbox import outbox_enqueue
from servicekit.migration.reconcile import Drift, ReconcileAdapter

REASON = "reconcile"


class InventoryMirror(ReconcileAdapter):
    name = entity = "inventory"
    peer = "monolith"
    export_path = "/api/v1/catalog/export/"
    rows = "products"
    key_field = "sku"
    fields = ("on_hand", "reserved")
    consumer, aggregate_type = "catalog", "product"

    def local_rows(self, keys):
        rows = Inventory.objects.filter(product__sku__in=keys).values_list(
            "product__sku", "on_hand", "reserved"
        )
        return {sku: {"sku": sku, "on_hand": on, "reserved": res} for sku, on, res in rows}

    def local_keys(self):
        return Inventory.objects.values_list("product__sku", flat=True).iterator()

    def apply(self, row):
        # a product missing here is the product reconciliation's to create (it runs first)
        services.stock_apply_changed(
            StockChangedV2(
                sku=row["sku"],
                on_hand=row["on_hand"],
                reserved=row["reserved"],
                available=row["on_hand"] - row["reserved"],
                reason=REASON,
            )
        )

    def remove(self, key):
        """Stock only we hold belongs to a product only we hold: the product's repair drops it."""

    def emit(self, drift: Drift) -> int:
        if drift.kind != "different":  # a product one side lacks is the product repair's
            return 0
        inventory = Inventory.objects.select_related("product").get(product__sku=drift.key)
        outbox_enqueue(stock_changed_event(inventory.product.sku, inventory, REASON))
        return 1
