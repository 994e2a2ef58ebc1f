"""`users_backfill --source http://127.0.0.1:8001 --token $STAFF` (or --username staff with
BACKFILL_PASSWORD): copy the monolith's accounts, with their password hashes, into this service."""

import os

from django.core.management.base import BaseCommand, CommandError

from extracted.users.accounts.backfill import users_backfill
from servicekit.export_client import ExportError, ExportSource


class Command(BaseCommand):
    help = "Copy the monolith's accounts through its export API (resumable, idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--source", default=os.environ.get("MONOLITH_URL", "http://127.0.0.1:8001")
        )
        parser.add_argument("--token", default=os.environ.get("BACKFILL_TOKEN", ""))
        parser.add_argument("--username", default=os.environ.get("BACKFILL_USERNAME", "staff"))
        parser.add_argument("--after", default="", help="resume after this user id")
        parser.add_argument("--page-size", type=int, default=200)

    def handle(self, *args, source, token, username, after, page_size, **options):
        exporter = ExportSource(source, token=token)
        try:
            if not token:
                exporter.login(
                    username=username,
                    password=os.environ.get("BACKFILL_PASSWORD", ""),
                    token_url=source.rstrip("/") + "/api/v1/auth/token",
                )
            report = users_backfill(
                pages=exporter.pages("/api/v1/users/export/", after=after, limit=page_size)
            )
        except ExportError as exc:
            raise CommandError(f"{exc}; rerun with --after to resume") from exc
        self.stdout.write(
            f"backfilled {report.users} users in {report.pages} pages; "
            f"{report.skipped_newer} rows were older than the live stream"
        )
