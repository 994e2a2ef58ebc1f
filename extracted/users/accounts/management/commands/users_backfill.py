"""`users_backfill --source http://127.0.0.1:8001 --token $STAFF` (or --username staff with
BACKFILL_PASSWORD): copy the monolith's accounts, with their password hashes, into this service."""

from django.core.management.base import BaseCommand

from extracted.users.accounts.backfill import users_backfill
from servicekit.migration.backfill import BackfillCommand


class Command(BackfillCommand, BaseCommand):
    help = "Copy the monolith's accounts through its export API (resumable, idempotent)."
    export_path = "/api/v1/users/export/"
    what = "user ids"

    def backfill(self, pages) -> str:
        report = users_backfill(pages=pages)
        return (
            f"backfilled {report.users} users in {report.pages} pages; "
            f"{report.skipped_newer} rows were older than the live stream"
        )
