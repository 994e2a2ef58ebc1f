"""`BACKFILL_PASSWORD=... python extracted/orders/manage.py orders_backfill --source $MONOLITH`:
copy the product replica and the monolith's orders (history, idempotency keys)."""

import os

from django.core.management.base import BaseCommand, CommandError

from extracted.orders.orders.backfill import (
    BackfillReport,
    orders_pages_apply,
    products_backfill,
)
from servicekit.migration.export_client import (
    ExportError,
    ExportSource,
    add_export_arguments,
    export_policy,
)


class Command(BaseCommand):
    help = "Copy products (replica) and the monolith's orders through their export APIs."

    def add_arguments(self, parser):
        parser.add_argument("--source", required=True, help="the monolith's base URL")
        parser.add_argument("--username", default="staff")
        parser.add_argument("--token", default=os.environ.get("BACKFILL_TOKEN", ""))
        parser.add_argument("--page-size", type=int, default=200)
        add_export_arguments(parser)

    def handle(self, *args, source, username, token, page_size, **options):
        exporter = ExportSource(source, token=token, policy=export_policy(options))
        report = BackfillReport()
        try:
            if not token:
                exporter.login(
                    username=username,
                    password=os.environ.get("BACKFILL_PASSWORD", ""),
                    token_url=source.rstrip("/") + "/api/v1/auth/token",
                )
            products_backfill(
                pages=exporter.pages("/api/v1/catalog/export/", limit=page_size), report=report
            )
            for _page in orders_pages_apply(
                exporter.pages("/api/v1/orders/export/", limit=page_size), report
            ):
                pass
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"products: {report.products}, orders: {report.orders}, "
            f"idempotency keys: {report.keys}, already newer: {report.skipped_newer}"
        )
