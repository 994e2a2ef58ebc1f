"""Hand an entity's ownership from one service to another without losing or forking a change.

1. Freeze: `ownership.yaml` says `frozen`, so both sides refuse writes (503, Retry-After).
2. Grace: wait out writes that checked ownership just before the freeze.
3. Drain: read the old owner's export (each row with its event sequence) until this service's
   inbox cursors have reached every row's sequence: it has applied every change.
4. Flip: name the new owner. Because applying an event raised this service's own sequence
   (servicekit.events.inbox.mirror), its first event continues each aggregate's stream.
Any failure puts the previous owner back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from servicekit.events.inbox.models import InboxCursor
from servicekit.migration.ownership import FROZEN, owner_of, ownership_set


@dataclass(frozen=True)
class Stream:
    """One kind of row in the export: `rows` key in a page, aggregate type, and its id field."""

    rows: str
    aggregate_type: str
    key: str


class HandoverTimeout(RuntimeError):
    pass


def rows_behind(pages: Iterable[dict[str, Any]], *, consumer: str, streams: list[Stream]) -> int:
    """How many exported rows carry a sequence this consumer has not applied yet."""
    behind = 0
    seen: set[tuple[str, str]] = set()
    for page in pages:
        for stream in streams:
            # aggregate ids are strings in the inbox, whatever the export's key type (user ids)
            rows = [
                r
                for r in page.get(stream.rows, [])
                if (stream.aggregate_type, str(r[stream.key])) not in seen
            ]
            if not rows:
                continue
            cursors = dict(
                InboxCursor.objects.filter(
                    consumer=consumer,
                    aggregate_type=stream.aggregate_type,
                    aggregate_id__in=[str(r[stream.key]) for r in rows],
                ).values_list("aggregate_id", "last_sequence")
            )
            for row in rows:
                seen.add((stream.aggregate_type, str(row[stream.key])))
                if row["sequence"] > cursors.get(str(row[stream.key]), 0):
                    behind += 1
    return behind


def handover(
    *,
    entity: str,
    to: str,
    consumer: str,
    export: Callable[[], Iterable[dict[str, Any]]],
    streams: list[Stream],
    grace: float = 1.0,
    timeout: float = 60.0,
    poll: float = 0.3,
    report: Callable[[str], None] = lambda line: None,
) -> None:
    previous = owner_of(entity)
    if previous == to:
        report(f"{entity} is already owned by {to}")
        return
    ownership_set(entity, FROZEN)
    report(f"{entity}: writes frozen (was {previous})")
    try:
        time.sleep(grace)
        deadline = time.monotonic() + timeout
        while (behind := rows_behind(export(), consumer=consumer, streams=streams)) > 0:
            if time.monotonic() > deadline:
                raise HandoverTimeout(f"{behind} {entity} rows still not applied after {timeout} s")
            report(f"{entity}: waiting for {behind} changes to arrive")
            time.sleep(poll)
        ownership_set(entity, to)
        report(f"{entity}: now owned by {to}")
    except BaseException:
        ownership_set(entity, previous)
        report(f"{entity}: handover aborted, {previous} owns it again")
        raise


class TakeoverCommand:
    """Mixin for a `BaseCommand`: this service takes `entity` over from the service at --source.

    Subclasses set `entity`, `consumer` (this service's inbox consumer of the entity's stream),
    `export_path` (the source's staff export API) and `streams`; they may override the hooks
    `check_preconditions()`, `export(pages)` (what each drain pass does with the source's
    pages) and `after_flip()`.
    """

    entity: str
    consumer: str
    export_path: str
    streams: list[Stream]
    help = (
        "Freeze writes, wait until this service applied every change of the source, flip the owner."
    )

    def add_arguments(self, parser) -> None:
        import os

        parser.add_argument("--source", required=True, help="the current owner's base URL")
        parser.add_argument("--token", default=os.environ.get("HANDOVER_TOKEN", ""))
        parser.add_argument("--username", default="staff")
        parser.add_argument(
            "--token-url",
            default=os.environ.get("MONOLITH_URL", "http://127.0.0.1:8001") + "/api/v1/auth/token",
            help="where a staff token is issued (the identity provider)",
        )
        parser.add_argument("--timeout", type=float, default=60.0)

    def check_preconditions(self) -> None:
        """Raise CommandError when this takeover must not start."""

    def export(self, pages: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        """One drain pass over the source's export; the pages feed the caught-up check."""
        return pages

    def after_flip(self) -> None:
        """Runs once this service owns the entity."""

    def handle(self, *args, source, token, username, token_url, timeout, **options) -> None:
        import os

        from django.conf import settings
        from django.core.management.base import CommandError

        from servicekit.migration.export_client import ExportError, ExportSource

        self.check_preconditions()
        exporter = ExportSource(source, token=token)
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
                export=lambda: self.export(exporter.pages(self.export_path)),
                streams=self.streams,
                timeout=timeout,
                report=self.stdout.write,
            )
        except (ExportError, HandoverTimeout) as exc:
            raise CommandError(str(exc)) from exc
        self.after_flip()
