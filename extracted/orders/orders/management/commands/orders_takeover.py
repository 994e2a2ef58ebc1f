"""`HANDOVER_PASSWORD=... python extracted/orders/manage.py orders_takeover --source $MONOLITH`:
the orders service takes `order` ownership over from the monolith (migrations_plan/ chapter 07).

Freeze (the monolith answers 503 + Retry-After to order writes), drain (every monolith order
change applied here; the same pass copies the idempotency keys, which no event carries), flip.
Refused unless the catalog service owns inventory: the checkout saga reserves stock there.
"""

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from extracted.orders.orders.backfill import (
    BackfillReport,
    order_ids_follow_copies,
    orders_pages_apply,
)
from servicekit.export_client import ExportError, ExportSource
from servicekit.handover import HandoverTimeout, Stream, TakeoverCommand, handover
from servicekit.ownership import owner_of

EXPORT_PATH = "/api/v1/orders/export/"


class Command(TakeoverCommand, BaseCommand):
    entity = "order"
    consumer = "orders"
    export_path = EXPORT_PATH
    streams = [Stream("orders", "order", "aggregate_id")]

    def handle(self, *args, source, token, username, token_url, timeout, **options):
        if owner_of("inventory") != "catalog":
            raise CommandError(
                f"inventory is owned by {owner_of('inventory')}: run the catalog service's "
                "inventory_takeover first (the checkout saga reserves stock there)"
            )
        exporter = ExportSource(source, token=token)
        report = BackfillReport()
        try:
            if not token:
                exporter.login(
                    username=username,
                    password=os.environ.get("HANDOVER_PASSWORD", ""),
                    token_url=token_url,
                )
            handover(
                entity=self.entity,
                to=settings.SERVICE_NAME,
                consumer=self.consumer,
                export=lambda: orders_pages_apply(exporter.pages(EXPORT_PATH), report),
                streams=self.streams,
                timeout=timeout,
                report=self.stdout.write,
            )
        except (ExportError, HandoverTimeout) as exc:
            raise CommandError(str(exc)) from exc
        order_ids_follow_copies()
