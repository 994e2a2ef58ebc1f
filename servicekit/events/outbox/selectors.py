"""Reads of the outbox: health numbers and dead letters."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Min, Q

from servicekit.events.envelope import now_utc
from servicekit.events.outbox.models import OutboxMessage, OutboxStatus


@dataclass(frozen=True)
class OutboxStats:
    pending: int
    dead: int
    oldest_pending_age_seconds: float


def outbox_stats() -> OutboxStats:
    row = OutboxMessage.objects.filter(
        status__in=[OutboxStatus.PENDING, OutboxStatus.DEAD]
    ).aggregate(
        pending=Count("pk", filter=Q(status=OutboxStatus.PENDING)),
        dead=Count("pk", filter=Q(status=OutboxStatus.DEAD)),
        oldest=Min("occurred_at", filter=Q(status=OutboxStatus.PENDING)),
    )
    oldest = row["oldest"]
    age = (now_utc() - oldest).total_seconds() if oldest else 0.0
    return OutboxStats(pending=row["pending"], dead=row["dead"], oldest_pending_age_seconds=age)


def outbox_dead_letters(*, limit: int = 100):
    return OutboxMessage.objects.filter(status=OutboxStatus.DEAD).order_by("id")[:limit]
