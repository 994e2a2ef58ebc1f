"""Backfill a new service from another's export API, then let the live stream take over.

Each exported row carries the event sequence it reflects. Applying a row moves this service's
inbox cursor for that aggregate to the row's sequence in the same transaction, so the consumer
then skips every event the snapshot already holds and applies every later one: no gap, no
double apply. A row older than what the live stream already applied is skipped. Every step is
idempotent and pages are keyed, so a rerun (or a crash mid-way) is safe: `--after` resumes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from django.db import transaction

from servicekit.events.inbox.mirror import aggregate_sequence_observe
from servicekit.events.inbox.models import InboxCursor
from servicekit.migration.export_client import (
    ExportError,
    ExportSource,
    add_export_arguments,
    export_policy,
)
from servicekit.web.commands import NO_SYSTEM_CHECKS


def cursor_seed(*, consumer: str, aggregate_type: str, aggregate_id: str, sequence: int) -> bool:
    """Move the consumer's cursor up to `sequence` (never back); call inside the transaction
    that applied the snapshot row. Also raises this service's own sequence for the aggregate
    and applies the parked live events that now follow. False when the cursor was already there."""
    from servicekit.events.inbox.processor import InboxProcessor
    from servicekit.events.inbox.registry import get_consumer

    cursor, _ = InboxCursor.objects.select_for_update().get_or_create(
        consumer=consumer, aggregate_type=aggregate_type, aggregate_id=aggregate_id
    )
    if cursor.last_sequence >= sequence:
        return False
    cursor.last_sequence = sequence
    cursor.save(update_fields=["last_sequence"])
    aggregate_sequence_observe(
        aggregate_type=aggregate_type, aggregate_id=aggregate_id, sequence=sequence
    )
    # live events that arrived before the snapshot and waited for their predecessors
    InboxProcessor(get_consumer(consumer)).resume(aggregate_type, aggregate_id)
    return True


@transaction.atomic
def snapshot_apply(
    *,
    consumer: str,
    aggregate_type: str,
    aggregate_id: str,
    sequence: int,
    apply: Callable[[], None],
) -> bool:
    """Apply one snapshot row unless the live stream is already past it. True when applied."""
    cursor = (
        InboxCursor.objects.select_for_update()
        .filter(consumer=consumer, aggregate_type=aggregate_type, aggregate_id=aggregate_id)
        .first()
    )
    if sequence and cursor is not None and cursor.last_sequence >= sequence:
        return False
    apply()
    if sequence:
        cursor_seed(
            consumer=consumer,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            sequence=sequence,
        )
    return True


class BackfillCommand:
    """Mixin for a `BaseCommand` that pages through `export_path` of --source.

    Subclasses set `export_path` and `what`, and implement `backfill(pages) -> str` (the
    summary line). Auth: --token, or --username with BACKFILL_PASSWORD (never on the command
    line, where it would show in the process list).
    """

    export_path: str
    what: str = "rows"
    requires_system_checks = NO_SYSTEM_CHECKS

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--source", default=os.environ.get("MONOLITH_URL", "http://127.0.0.1:8001")
        )
        parser.add_argument("--token", default=os.environ.get("BACKFILL_TOKEN", ""))
        parser.add_argument("--username", default=os.environ.get("BACKFILL_USERNAME", "staff"))
        parser.add_argument("--after", default="", help=f"resume after this key of the {self.what}")
        parser.add_argument("--page-size", type=int, default=200)
        add_export_arguments(parser)

    def backfill(self, pages: Iterator[dict[str, Any]]) -> str:
        raise NotImplementedError

    def handle(self, *args, source, token, username, after, page_size, **options) -> None:
        from django.core.management.base import CommandError

        exporter = ExportSource(source, token=token, policy=export_policy(options))
        try:
            if not token:
                exporter.login(
                    username=username,
                    password=os.environ.get("BACKFILL_PASSWORD", ""),
                    token_url=source.rstrip("/") + "/api/v1/auth/token",
                )
            summary = self.backfill(exporter.pages(self.export_path, after=after, limit=page_size))
        except ExportError as exc:
            raise CommandError(f"{exc}; rerun with --after to resume") from exc
        self.stdout.write(summary)
