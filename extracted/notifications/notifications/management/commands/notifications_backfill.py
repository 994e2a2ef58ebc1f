"""`notifications_backfill --source http://127.0.0.1:8001 --username staff` (password from
BACKFILL_PASSWORD, or --token): copy the monolith's notifications and user directory here."""

import os
from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from extracted.notifications.notifications.backfill import (
    directory_backfill,
    notifications_backfill,
)
from servicekit.web.discovery.registry import StaticRegistry
from servicekit.web.http_client import ServiceClient, UpstreamError


class Command(BaseCommand):
    help = "Copy the monolith's notifications through its export API (resumable, idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--source", default=os.environ.get("MONOLITH_URL", "http://127.0.0.1:8001")
        )
        parser.add_argument("--token", default=os.environ.get("BACKFILL_TOKEN", ""))
        parser.add_argument("--username", default=os.environ.get("BACKFILL_USERNAME", "staff"))
        parser.add_argument("--after", type=int, default=0, help="resume after this monolith id")
        parser.add_argument("--page-size", type=int, default=200)
        parser.add_argument(
            "--skip-users", action="store_true", help="do not seed the directory from /users/"
        )

    def handle(self, *args, source, token, username, after, page_size, skip_users, **options):
        self.client = ServiceClient(
            "monolith", registry=StaticRegistry({"monolith": [source.rstrip("/")]}), read_timeout=30
        )
        if not token:
            token = self._login(username, os.environ.get("BACKFILL_PASSWORD", ""))
        self.headers = {"Authorization": f"Bearer {token}"}
        report = notifications_backfill(pages=self._pages(after, page_size))
        seeded = 0 if skip_users else directory_backfill(users=self._users())
        self.stdout.write(
            f"backfilled {report.notifications} notifications in {report.pages} pages "
            f"(last id {report.last_after}); {report.recipients + seeded} users added to the "
            "directory"
        )

    def _login(self, username: str, password: str) -> str:
        if not password:
            raise CommandError("give --token, or BACKFILL_PASSWORD for --username")
        response = self.client.post(
            "/api/v1/auth/token", json={"username": username, "password": password}
        )
        if response.status != 200:
            raise CommandError(
                f"login as {username} failed: {response.status} {response.data[:200]!r}"
            )
        return response.json()["access"]

    def _get(self, path: str, resume_hint: str) -> dict[str, Any]:
        try:
            response = self.client.get(path, headers=self.headers)
        except UpstreamError as exc:
            raise CommandError(f"{path} failed: {exc}; {resume_hint}") from exc
        if response.status != 200:
            raise CommandError(f"{path} answered {response.status}: {response.data[:200]!r}")
        return response.json()

    def _pages(self, after: int, size: int) -> Iterator[dict[str, Any]]:
        while True:
            page = self._get(
                f"/api/v1/notifications/export/?after={after}&limit={size}",
                f"rerun with --after {after}",
            )
            yield page
            if not page["next_after"]:
                return
            after = page["next_after"]

    def _users(self) -> Iterator[dict[str, Any]]:
        number = 1
        while True:
            page = self._get(f"/api/v1/users/?page={number}&page_size=100", "rerun the command")
            yield from page["results"]
            if not page["next"]:
                return
            number += 1
