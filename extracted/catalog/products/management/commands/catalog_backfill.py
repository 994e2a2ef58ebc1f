"""`catalog_backfill --source http://127.0.0.1:8001 --username staff` (password from
BACKFILL_PASSWORD, or --token): copy the monolith's catalog into this service."""

import os
from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from extracted.catalog.products.backfill import catalog_backfill
from servicekit.discovery import StaticRegistry
from servicekit.http_client import ServiceClient, UpstreamError


class Command(BaseCommand):
    help = "Copy the monolith's catalog through its export API (resumable, idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--source", default=os.environ.get("MONOLITH_URL", "http://127.0.0.1:8001")
        )
        parser.add_argument("--token", default=os.environ.get("BACKFILL_TOKEN", ""))
        parser.add_argument("--username", default=os.environ.get("BACKFILL_USERNAME", "staff"))
        parser.add_argument("--after", default="", help="resume after this sku")
        parser.add_argument("--page-size", type=int, default=200)

    def handle(self, *args, source, token, username, after, page_size, **options):
        client = ServiceClient(
            "monolith", registry=StaticRegistry({"monolith": [source.rstrip("/")]}), read_timeout=30
        )
        if not token:
            token = self._login(client, username, os.environ.get("BACKFILL_PASSWORD", ""))
        report = catalog_backfill(pages=self._pages(client, token, after, page_size))
        self.stdout.write(
            f"backfilled {report.products} products and {report.categories} categories in "
            f"{report.pages} pages; {report.skipped_newer} rows were older than the live stream"
        )

    def _login(self, client: ServiceClient, username: str, password: str) -> str:
        if not password:
            raise CommandError("give --token, or BACKFILL_PASSWORD for --username")
        response = client.post(
            "/api/v1/auth/token", json={"username": username, "password": password}
        )
        if response.status != 200:
            raise CommandError(
                f"login as {username} failed: {response.status} {response.data[:200]!r}"
            )
        return response.json()["access"]

    def _pages(
        self, client: ServiceClient, token: str, after: str, size: int
    ) -> Iterator[dict[str, Any]]:
        while True:
            try:
                response = client.get(
                    f"/api/v1/catalog/export/?after={after}&limit={size}",
                    headers={"Authorization": f"Bearer {token}"},
                )
            except UpstreamError as exc:
                raise CommandError(
                    f"export failed after {after!r}: {exc}; rerun with --after {after!r}"
                ) from exc
            if response.status != 200:
                raise CommandError(f"export answered {response.status}: {response.data[:200]!r}")
            page = response.json()
            yield page
            if not page["next_after"]:
                return
            after = page["next_after"]
