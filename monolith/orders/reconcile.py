"""The monolith's side of order reconciliation once the orders service owns orders
(servicekit/migration/reconcile.py): the orders service's export is the peer; our copy is repaired
through the mirror consumer's snapshot apply (`order_apply_snapshot`), one order at a time."""

from __future__ import annotations

from datetime import datetime

from contracts.orders import order_comparable
from monolith.orders import services
from monolith.orders.handback import CONSUMER
from monolith.orders.models import Order
from servicekit.migration.reconcile import ReconcileAdapter

LINE_FIELDS = ("sku", "name", "unit_price", "quantity")


class OrderMirror(ReconcileAdapter):
    name = entity = "order"
    peer = "orders"
    export_path = "/api/v1/orders/export/"
    rows = "orders"
    fields = ("customer_id", "status", "total", "currency", "lines")
    consumer, aggregate_type = CONSUMER, "order"

    def normalise(self, row):
        return order_comparable(row)

    def local_rows(self, keys):
        orders = Order.objects.filter(pk__in=[int(k) for k in keys]).prefetch_related("lines")
        return {
            str(order.pk): {
                "id": order.pk,
                "customer_id": order.customer_id,
                "status": order.status,
                "total": order.total,
                "currency": order.currency,
                "lines": [{k: getattr(line, k) for k in LINE_FIELDS} for line in order.lines.all()],
            }
            for order in orders
        }

    def local_keys(self):
        return (str(pk) for pk in Order.objects.values_list("pk", flat=True).iterator())

    def apply(self, row):
        services.order_apply_snapshot(
            order_id=row["id"],
            customer_id=row["customer_id"],
            status=row["status"],
            total=row["total"],
            currency=row["currency"],
            lines=row["lines"],
            created_at=datetime.fromisoformat(row["created_at"]),
        )

    def remove(self, key):
        return (
            False  # an order only the monolith holds was placed before the split: a person decides
        )
