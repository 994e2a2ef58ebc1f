"""`catalog_reconcile --source http://127.0.0.1:8001 --username staff [--repair]` (password from
BACKFILL_PASSWORD, or --token): compare the catalog here with the monolith's; exit 1 on drift."""

import os

from django.core.management.base import BaseCommand, CommandError

from extracted.catalog.products.reconcile import (
    catalog_reconcile,
    catalog_repair_local,
    catalog_repair_remote,
)
from servicekit.migration.export_client import (
    ExportError,
    ExportSource,
    add_export_arguments,
    export_policy,
)
from servicekit.migration.ownership import owner_of


class Command(BaseCommand):
    help = "Compare the catalog with the monolith's (counts, per-row checksums, in batches)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--source", default=os.environ.get("MONOLITH_URL", "http://127.0.0.1:8001")
        )
        parser.add_argument("--token", default=os.environ.get("BACKFILL_TOKEN", ""))
        parser.add_argument("--username", default=os.environ.get("BACKFILL_USERNAME", "staff"))
        parser.add_argument("--batch-size", type=int, default=200)
        parser.add_argument(
            "--repair",
            action="store_true",
            help="fix the non-owner's copy (ours, while the monolith owns products)",
        )
        add_export_arguments(parser)

    def handle(self, *args, source, token, username, batch_size, repair, **options):
        exporter = ExportSource(source, token=token, policy=export_policy(options))
        try:
            if not token:
                exporter.login(
                    username=username,
                    password=os.environ.get("BACKFILL_PASSWORD", ""),
                    token_url=source.rstrip("/") + "/api/v1/auth/token",
                )
            report = catalog_reconcile(
                pages=exporter.pages("/api/v1/catalog/export/", limit=batch_size)
            )
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(report.summary())
        if report.clean:
            return
        if repair:
            owner = owner_of("product")
            if owner == "catalog":
                # The monolith is the non-owner: its copy is fed by our events, so the repair is
                # events too (never a write into its database).
                emitted = catalog_repair_remote(report=report)
                self.stdout.write(f"emitted {emitted} repair events for the monolith's copy")
                return
            if owner != "monolith":
                raise CommandError(f"products are owned by {owner!r}: no repair during a handover")
            report.repaired = catalog_repair_local(report=report)
            self.stdout.write(f"repaired {report.repaired} rows here (the monolith owns products)")
            return
        raise CommandError("drift found (rerun with --repair to fix the non-owner's copy)")
