"""Writes to the outbox: `outbox_enqueue` (business transactions) and the relay's state changes."""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog
from django.db import connections, transaction
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from servicekit.events import prepared
from servicekit.events.envelope import now_utc, split_event_type
from servicekit.events.event import Event
from servicekit.events.outbox.echo import current_applied_event, is_echo
from servicekit.events.outbox.models import AggregateSequence, OutboxMessage, OutboxStatus
from servicekit.events.settings import events_settings

logger = structlog.get_logger("servicekit.outbox")

NOTIFY_CHANNEL = "servicekit_outbox"
_SEQUENCE_TABLE = AggregateSequence._meta.db_table
_NEXT_SEQUENCE_SQL = (
    f"INSERT INTO {_SEQUENCE_TABLE} (aggregate_type, aggregate_id, last_sequence) "  # noqa: S608
    "VALUES (%s, %s, 1) ON CONFLICT (aggregate_type, aggregate_id) "
    f"DO UPDATE SET last_sequence = {_SEQUENCE_TABLE}.last_sequence + 1 RETURNING last_sequence"
)


_OUTBOX_TABLE = OutboxMessage._meta.db_table
# PostgreSQL: the sequence number, the row and the relay's wake-up in one statement (one round
# trip instead of three; prepared). The NOTIFY is delivered at commit, coalesced per transaction.
_ENQUEUE_SQL = f"""
WITH seq AS (
  INSERT INTO {_SEQUENCE_TABLE} AS s (aggregate_type, aggregate_id, last_sequence)
  VALUES (%(aggregate_type)s, %(aggregate_id)s, 1)
  ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET last_sequence = s.last_sequence + 1
  RETURNING last_sequence
)
INSERT INTO {_OUTBOX_TABLE} (
  event_id, event_type, aggregate_type, aggregate_id, sequence, occurred_at, origin,
  correlation_id, traceparent, tracestate, payload, status, attempts, next_attempt_at,
  claimed_by, claimed_until, last_error, sent_at)
SELECT %(event_id)s, %(event_type)s, %(aggregate_type)s, %(aggregate_id)s, seq.last_sequence,
  %(occurred_at)s, %(origin)s, %(correlation_id)s, %(traceparent)s, %(tracestate)s,
  %(payload)s, 'pending', 0, %(occurred_at)s, '', NULL, '', NULL
FROM seq CROSS JOIN LATERAL (SELECT pg_notify(%(channel)s, '')) AS wake
RETURNING id, sequence
"""  # noqa: S608


class OutboxUsageError(RuntimeError):
    """`outbox_enqueue` was called outside a transaction (the event could outlive a rollback)."""


def _next_sequence(*, using: str, aggregate_type: str, aggregate_id: str) -> int:
    # One upsert: atomic on PostgreSQL (row lock held to commit) and SQLite (single writer), so
    # two transactions touching the same aggregate get consecutive numbers in commit order.
    with connections[using].cursor() as cursor:
        cursor.execute(_NEXT_SEQUENCE_SQL, [aggregate_type, aggregate_id])
        return int(cursor.fetchone()[0])


def _trace_context() -> tuple[str, str]:
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    if not carrier.get("traceparent"):
        applied = current_applied_event()
        if applied is not None:
            return applied.traceparent, applied.tracestate
    return carrier.get("traceparent", ""), carrier.get("tracestate", "")


def _correlation_id() -> str:
    bound = structlog.contextvars.get_contextvars()
    value = bound.get("correlation_id") or bound.get("request_id")
    if not value:
        applied = current_applied_event()
        value = applied.correlation_id if applied is not None else ""
    return str(value or "")[:128]


def outbox_enqueue(
    event: Event,
    *,
    using: str = "default",
    occurred_at: datetime | None = None,
    correlation_id: str | None = None,
) -> OutboxMessage | None:
    """Record `event` in the outbox, in the caller's transaction.

    Call inside `transaction.atomic` (raises `OutboxUsageError` otherwise): the row commits or
    rolls back with the business change, and the relay publishes it after commit. Returns None,
    writing nothing, when the change only mirrors an event from another service about the same
    aggregate (echo protection).
    """
    connection = connections[using]
    if not connection.in_atomic_block:
        raise OutboxUsageError(
            f"outbox_enqueue({event.event_type}) must run inside transaction.atomic"
        )
    split_event_type(event.event_type)  # fail early on an unversioned type
    config = events_settings()
    aggregate_type, aggregate_id = event.aggregate_type, str(event.aggregate_id)
    if is_echo(aggregate_type=aggregate_type, aggregate_id=aggregate_id, service=config.SERVICE):
        logger.info(
            "outbox.echo_suppressed",
            event_type=event.event_type,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
        )
        return None
    traceparent, tracestate = _trace_context()
    occurred = occurred_at or now_utc()
    message = OutboxMessage(
        event_id=uuid.uuid4(),
        event_type=event.event_type,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        occurred_at=occurred,
        origin=config.SERVICE,
        correlation_id=correlation_id if correlation_id is not None else _correlation_id(),
        traceparent=traceparent,
        tracestate=tracestate,
        payload=event.to_payload(),
        status=OutboxStatus.PENDING,
        next_attempt_at=occurred,
    )
    if connection.vendor == "postgresql":
        _insert_postgresql(message, using=using)
    else:
        message.sequence = _next_sequence(
            using=using, aggregate_type=aggregate_type, aggregate_id=aggregate_id
        )
        message.save(using=using, force_insert=True)
    logger.info(
        "outbox.enqueued",
        event_id=str(message.event_id),
        event_type=message.event_type,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        sequence=message.sequence,
    )
    return message


def _insert_postgresql(message: OutboxMessage, *, using: str) -> None:
    connection = connections[using]
    payload = OutboxMessage._meta.get_field("payload").get_db_prep_value(
        message.payload, connection
    )
    rows, _ = prepared.execute(
        _ENQUEUE_SQL,
        {
            "event_id": message.event_id,
            "event_type": message.event_type,
            "aggregate_type": message.aggregate_type,
            "aggregate_id": message.aggregate_id,
            "occurred_at": message.occurred_at,
            "origin": message.origin,
            "correlation_id": message.correlation_id,
            "traceparent": message.traceparent,
            "tracestate": message.tracestate,
            "payload": payload,
            "channel": NOTIFY_CHANNEL,
        },
        using=using,
    )
    message.pk, message.sequence = rows[0]
    message._state.adding = False
    message._state.db = using


@transaction.atomic
def outbox_replay_dead(*, event_ids: list[uuid.UUID] | None = None, all_dead: bool = False) -> int:
    """Put dead-lettered rows back to pending with a fresh attempt budget. Returns the count."""
    if not event_ids and not all_dead:
        raise ValueError("name the event ids to replay, or pass all_dead=True")
    rows = OutboxMessage.objects.filter(status=OutboxStatus.DEAD)
    if event_ids:
        rows = rows.filter(event_id__in=event_ids)
    now = now_utc()
    replayed = list(rows.values_list("event_id", flat=True))
    count = rows.update(
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        claimed_by="",
        claimed_until=None,
    )
    for event_id in replayed:
        logger.info("outbox.replayed", event_id=str(event_id))
    return count


def outbox_cleanup(*, retention_seconds: float, batch_size: int = 5000) -> int:
    """Delete `sent` rows sent longer ago than the retention; pending and dead rows are kept."""
    from datetime import timedelta

    cutoff = now_utc() - timedelta(seconds=retention_seconds)
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                OutboxMessage.objects.filter(status=OutboxStatus.SENT, sent_at__lt=cutoff)
                .order_by("id")
                .values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                break
            deleted += OutboxMessage.objects.filter(id__in=ids).delete()[0]
    logger.info("outbox.cleaned_up", deleted=deleted, cutoff=cutoff.isoformat())
    return deleted
