"""Writes to the inbox outside event delivery: replaying dead events, cleaning up."""

from __future__ import annotations

import uuid
from datetime import timedelta

import structlog
from django.db import transaction

from servicekit.events.envelope import now_utc
from servicekit.events.inbox.models import InboxMessage, InboxParked, ParkedReason

logger = structlog.get_logger("servicekit.inbox")


@transaction.atomic
def inbox_replay_dead(*, consumer: str | None = None, event_ids: list[uuid.UUID] | None) -> int:
    """Give dead events a fresh attempt budget; the consumer's sweep retries them in order."""
    rows = InboxParked.objects.filter(reason=ParkedReason.DEAD)
    if consumer:
        rows = rows.filter(consumer=consumer)
    if event_ids:
        rows = rows.filter(event_id__in=event_ids)
    ids = list(rows.values_list("event_id", flat=True))
    count = rows.update(reason=ParkedReason.FAILED, attempts=0, next_attempt_at=now_utc())
    for event_id in ids:
        logger.info("inbox.replayed", event_id=str(event_id))
    return count


def inbox_cleanup(*, retention_seconds: float) -> int:
    """Forget applied-event ids older than the retention; the cursor still rejects replays."""
    cutoff = now_utc() - timedelta(seconds=retention_seconds)
    deleted, _ = InboxMessage.objects.filter(applied_at__lt=cutoff).delete()
    logger.info("inbox.cleaned_up", deleted=deleted)
    return deleted
