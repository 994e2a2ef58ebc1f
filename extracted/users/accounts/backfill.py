"""Backfill the accounts, password hashes included, from the monolith's staff export API (how
it stays gap-free and idempotent with the live stream: servicekit/migration/backfill.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from contracts.users import UserCreatedV1, UserPasswordChangedV1
from extracted.users.accounts import services
from extracted.users.accounts.models import User
from servicekit.migration.backfill import snapshot_apply
from servicekit.migration.sequences import id_sequence_catch_up

CONSUMER = "users"


@dataclass
class BackfillReport:
    users: int = 0
    skipped_newer: int = 0
    pages: int = 0
    last_id: int = 0


def user_row_apply(row: dict[str, Any]) -> None:
    """Make our account equal to an exported one, password hash included (the consumer's
    apply functions: backfill and reconciliation share it)."""
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


def user_snapshot_apply(row: dict[str, Any]) -> bool:
    """Apply one exported account, password hash included, unless the live stream is past it."""
    return snapshot_apply(
        consumer=CONSUMER,
        aggregate_type="user",
        aggregate_id=str(row["id"]),
        sequence=row["sequence"],
        apply=lambda: user_row_apply(row),
    )


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
