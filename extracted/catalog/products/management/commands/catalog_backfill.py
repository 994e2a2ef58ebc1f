"""`catalog_backfill --source http://127.0.0.1:8001 --token $STAFF` (or --username staff with
BACKFILL_PASSWORD): copy the monolith's catalog into this service."""

from django.core.management.base import BaseCommand

from extracted.catalog.products.backfill import catalog_backfill
from servicekit.migration.backfill import BackfillCommand


class Command(BackfillCommand, BaseCommand):
    help = "Copy the monolith's catalog through its export API (resumable, idempotent)."
    export_path = "/api/v1/catalog/export/"
    what = "skus"

    def backfill(self, pages) -> str:
        report = catalog_backfill(pages=pages)
        return (
            f"backfilled {report.products} products and {report.categories} categories in "
            f"{report.pages} pages; {report.skipped_newer} rows were older than the live stream"
        )
