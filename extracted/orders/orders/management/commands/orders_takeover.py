"""`HANDOVER_PASSWORD=... python extracted/orders/manage.py orders_takeover --source $MONOLITH`:
the orders service takes `order` ownership over from the monolith (migrations_plan/ chapter 07).

Freeze (the monolith answers 503 + Retry-After to order writes), drain (every monolith order
change applied here; the same pass copies the idempotency keys, which no event carries), flip.
Refused unless the catalog service owns inventory: the checkout saga reserves stock there.
"""

from django.core.management.base import BaseCommand, CommandError

from extracted.orders.orders.backfill import BackfillReport, orders_pages_apply
from servicekit.migration.handover import Stream, TakeoverCommand
from servicekit.migration.ownership import owner_of


class Command(TakeoverCommand, BaseCommand):
    entity = "order"
    consumer = "orders"
    export_path = "/api/v1/orders/export/"
    streams = [Stream("orders", "order", "aggregate_id")]

    def check_preconditions(self) -> None:
        if owner_of("inventory") != "catalog":
            raise CommandError(
                f"inventory is owned by {owner_of('inventory')}: run the catalog service's "
                "inventory_takeover first (the checkout saga reserves stock there)"
            )

    def export(self, pages):
        # each drain pass also copies the idempotency keys, which no event carries
        return orders_pages_apply(pages, BackfillReport())
