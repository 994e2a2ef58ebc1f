"""Backfill: copy the monolith's notifications (and its user directory) through its APIs.

A notification only ever gains a read time, so a snapshot row is merged, never skipped: it is
created if missing, takes the monolith's text and `created_at`, and marks it read if the row is
read. The row's event sequence then raises the inbox cursor of that notification (and this
service's own sequence for it), in the same transaction, so live events the snapshot already
holds are skipped and later ones apply. Resumable: pages are keyed by the monolith's id and every
step is idempotent, so a rerun (or a crash mid-way) is safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from contracts.notifications import notification_key
from extracted.notifications.notifications.models import Recipient
from extracted.notifications.notifications.services import notification_merge
from servicekit.migration.backfill import cursor_seed

CONSUMER = "notifications"
AGGREGATE = "notification"


@dataclass
class BackfillReport:
    notifications: int = 0
    recipients: int = 0
    pages: int = 0
    last_after: int = 0


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def recipient_seed(*, user_id: int, username: str, email: str) -> bool:
    """Add a user the directory does not know; an entry from the live users stream is newer."""
    _recipient, created = Recipient.objects.get_or_create(
        user_id=user_id, defaults={"username": username, "email": email}
    )
    return created


def _cursor_raise(aggregate_id: str, sequence: int) -> None:
    cursor_seed(
        consumer=CONSUMER, aggregate_type=AGGREGATE, aggregate_id=aggregate_id, sequence=sequence
    )


@transaction.atomic
def snapshot_apply(row: dict[str, Any]) -> bool:
    """Merge one exported notification; True when this service learnt its user from it."""
    learnt = recipient_seed(user_id=row["user_id"], username=row["username"], email=row["email"])
    notification_merge(
        user_id=row["user_id"],
        kind=row["kind"],
        order_id=row["order_id"],
        title=row["title"],
        body=row["body"],
        created_at=_when(row["created_at"]),
        read_at=_when(row["read_at"]),
    )
    if row["sequence"]:
        key = notification_key(user_id=row["user_id"], kind=row["kind"], order_id=row["order_id"])
        _cursor_raise(key, row["sequence"])
    return learnt


def notifications_backfill(*, pages: Iterator[dict[str, Any]]) -> BackfillReport:
    report = BackfillReport()
    for page in pages:
        report.pages += 1
        for row in page["notifications"]:
            report.recipients += int(snapshot_apply(row))
            report.notifications += 1
            report.last_after = row["id"]
    return report


def directory_backfill(*, users: Iterable[dict[str, Any]]) -> int:
    """Seed the directory from the monolith's user list (users with no notification yet)."""
    seeded = 0
    for user in users:
        with transaction.atomic():
            seeded += int(
                recipient_seed(user_id=user["id"], username=user["username"], email=user["email"])
            )
    return seeded
