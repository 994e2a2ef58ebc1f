"""The orders service's side of order reconciliation (servicekit/migration/reconcile.py).

While the monolith owns orders, its staff export is the peer and our copies are repaired through
the backfill's snapshot apply (the order, its lines and its history row). Once this service owns
orders the monolith is the mirror: its side needs this service's order export and an adapter over
its own apply path (see `peer`), so here the direction check refuses rather than guess.
"""

from __future__ import annotations

from contracts.orders import order_comparable
from extracted.orders.orders.backfill import _order_apply
from extracted.orders.orders.models import Order, OrderLine
from servicekit.migration.reconcile import ReconcileAdapter

LINE_FIELDS = ("sku", "name", "unit_price", "quantity")


class OrderMirror(ReconcileAdapter):
    name = entity = "order"
    peer = "monolith"
    export_path = "/api/v1/orders/export/"
    rows = "orders"
    fields = ("customer_id", "status", "total", "currency", "lines")
    consumer, aggregate_type = "orders", "order"

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
        # the snapshot apply keeps lines it already has: a copy whose lines drifted takes the
        # owner's again
        mine = self.local_rows([str(row["id"])]).get(str(row["id"]))
        if mine is not None and self.normalise(mine)["lines"] != self.normalise(row)["lines"]:
            OrderLine.objects.filter(order_id=row["id"]).delete()
        _order_apply(row)

    def remove(self, key):
        return False  # an order only we hold may be mid-saga: a person decides
