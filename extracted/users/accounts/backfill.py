"""Backfill: copy the monolith's accounts, password hashes included, through its staff export
API, then let the live stream run.

Each row carries the event sequence it reflects; applying it moves the inbox cursor of that
user to the sequence in the same transaction, so the consumer skips every event the snapshot
already contains and applies every later one: no gap, no double apply. A row older than what
the live stream already applied is skipped. Resumable (`--after <id>`) and idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from contracts.users import UserCreatedV1, UserPasswordChangedV1
from extracted.users.accounts import services
from extracted.users.accounts.models import User
from servicekit.inbox.mirror import aggregate_sequence_observe
from servicekit.inbox.models import InboxCursor
from servicekit.inbox.processor import InboxProcessor
from servicekit.inbox.registry import get_consumer
from servicekit.sequences import id_sequence_catch_up

CONSUMER = "users"


@dataclass
class BackfillReport:
    users: int = 0
    skipped_newer: int = 0
    pages: int = 0
    last_id: int = 0


@transaction.atomic
def user_snapshot_apply(row: dict[str, Any]) -> bool:
    """Apply one exported account unless the live stream is already past it."""
    aggregate_id, sequence = str(row["id"]), row["sequence"]
    cursor, _ = InboxCursor.objects.select_for_update().get_or_create(
        consumer=CONSUMER, aggregate_type="user", aggregate_id=aggregate_id
    )
    if sequence and cursor.last_sequence >= sequence:
        return False
    services.user_apply_created(
        UserCreatedV1(
            user_id=row["id"],
            username=row["username"],
            email=row["email"],
            first_name=row["first_name"],
            last_name=row["last_name"],
            is_staff=row["is_staff"],
            is_active=row["is_active"],
            date_joined=row["date_joined"],
        )
    )
    services.user_apply_password_changed(
        UserPasswordChangedV1(user_id=row["id"], password_hash=row["password_hash"])
    )
    if sequence:
        cursor.last_sequence = sequence
        cursor.save(update_fields=["last_sequence"])
        aggregate_sequence_observe(
            aggregate_type="user", aggregate_id=aggregate_id, sequence=sequence
        )
        # live events that arrived before the snapshot and waited for their predecessors
        InboxProcessor(get_consumer(CONSUMER)).resume("user", aggregate_id)
    return True


def users_backfill(*, pages: Iterator[dict[str, Any]]) -> BackfillReport:
    report = BackfillReport()
    for page in pages:
        report.pages += 1
        for row in page["users"]:
            if user_snapshot_apply(row):
                report.users += 1
            else:
                report.skipped_newer += 1
            report.last_id = row["id"]
    id_sequence_catch_up(User)
    return report
