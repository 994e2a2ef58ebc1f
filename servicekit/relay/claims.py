"""Claiming outbox rows so that several relays never publish the same aggregate at once."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Exists, Min, OuterRef, Q

from servicekit.outbox.models import OutboxMessage, OutboxStatus

UNSENT = (OutboxStatus.PENDING, OutboxStatus.DEAD)


def _claimable(now: datetime) -> Q:
    return Q(status=OutboxStatus.PENDING, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    )


def head_runs(
    candidates: Iterable[OutboxMessage], first_unsent: dict[tuple[str, str], int]
) -> list[OutboxMessage]:
    """Per aggregate, the unbroken run of candidates that starts at its first unsent sequence.

    Anything else (a candidate whose predecessor is dead, backing off, or claimed by another
    relay, or was skipped because it is locked) waits: publishing it now could overtake.
    """
    by_aggregate: dict[tuple[str, str], list[OutboxMessage]] = defaultdict(list)
    for row in candidates:
        by_aggregate[(row.aggregate_type, row.aggregate_id)].append(row)
    runs: list[OutboxMessage] = []
    for key, rows in by_aggregate.items():
        expected = first_unsent.get(key)
        for row in sorted(rows, key=lambda r: r.sequence):
            if row.sequence != expected:
                break
            runs.append(row)
            expected += 1
    runs.sort(key=lambda r: r.pk)
    return runs


def claim_batch(
    *, relay_id: str, limit: int, lease_seconds: float, now: datetime
) -> list[OutboxMessage]:
    """Lease up to `limit` publishable rows to `relay_id`, in id order, in a short transaction.

    On PostgreSQL `FOR UPDATE SKIP LOCKED` keeps concurrent relays off each other's rows; the
    head check afterwards (with a fresh snapshot) drops rows whose aggregate has an earlier row
    still unsent. On SQLite the IMMEDIATE transaction makes claims one at a time.
    """
    blocked_earlier = OutboxMessage.objects.filter(
        aggregate_type=OuterRef("aggregate_type"),
        aggregate_id=OuterRef("aggregate_id"),
        sequence__lt=OuterRef("sequence"),
    ).filter(
        Q(status=OutboxStatus.DEAD)
        | Q(status=OutboxStatus.PENDING, next_attempt_at__gt=now)
        | Q(status=OutboxStatus.PENDING, claimed_until__gt=now)
    )
    with transaction.atomic():
        rows = (
            OutboxMessage.objects.filter(_claimable(now))
            .filter(~Exists(blocked_earlier))
            .order_by("id")
        )
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        candidates = list(rows[:limit])
        if not candidates:
            return []
        keys = {(r.aggregate_type, r.aggregate_id) for r in candidates}
        first_unsent = {
            (row["aggregate_type"], row["aggregate_id"]): row["first"]
            for row in OutboxMessage.objects.filter(
                status__in=UNSENT,
                aggregate_type__in={k[0] for k in keys},
                aggregate_id__in={k[1] for k in keys},
            )
            .values("aggregate_type", "aggregate_id")
            .annotate(first=Min("sequence"))
        }
        claimed = head_runs(candidates, first_unsent)
        if claimed:
            OutboxMessage.objects.filter(pk__in=[r.pk for r in claimed]).update(
                claimed_by=relay_id, claimed_until=now + timedelta(seconds=lease_seconds)
            )
        return claimed


def mark_sent(*, relay_id: str, pks: list[int], now: datetime) -> int:
    if not pks:
        return 0
    return OutboxMessage.objects.filter(pk__in=pks, status=OutboxStatus.PENDING).update(
        status=OutboxStatus.SENT, sent_at=now, claimed_by="", claimed_until=None, last_error=""
    )


def release(*, relay_id: str, pks: list[int]) -> int:
    """Give rows back without blame (the broker, not the event, failed)."""
    if not pks:
        return 0
    return OutboxMessage.objects.filter(
        pk__in=pks, status=OutboxStatus.PENDING, claimed_by=relay_id
    ).update(claimed_by="", claimed_until=None)


def backoff_delay(attempts: int, *, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**(attempts-1)))."""
    return random.uniform(0, min(cap, base * 2 ** max(attempts - 1, 0)))


def record_failure(
    *, row: OutboxMessage, error: str, now: datetime, max_attempts: int, base: float, cap: float
) -> OutboxStatus:
    """Count a failed publish: back off, or dead-letter the row after `max_attempts`."""
    attempts = row.attempts + 1
    if attempts >= max_attempts:
        status = OutboxStatus.DEAD
        next_attempt_at = now
    else:
        status = OutboxStatus.PENDING
        next_attempt_at = now + timedelta(seconds=backoff_delay(attempts, base=base, cap=cap))
    OutboxMessage.objects.filter(pk=row.pk, status=OutboxStatus.PENDING).update(
        status=status,
        attempts=attempts,
        next_attempt_at=next_attempt_at,
        last_error=error[:4000],
        claimed_by="",
        claimed_until=None,
    )
    return status
