"""Applying delivered events: once per (consumer, event id), in sequence order per aggregate."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import structlog
from django.db import connection, transaction
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from contracts.envelope import Envelope, now_utc
from contracts.registry import decode
from servicekit.events import prepared
from servicekit.events.faults import INBOX_AFTER_COMMIT, INBOX_BEFORE_COMMIT, crash_point
from servicekit.events.inbox.models import InboxCursor, InboxMessage, InboxParked, ParkedReason
from servicekit.events.inbox.registry import EventConsumer
from servicekit.events.metrics import INBOX_APPLIED, INBOX_DUPLICATES, INBOX_LAG, INBOX_PARKED
from servicekit.events.outbox.echo import applying_event
from servicekit.web.backoff import backoff_delay

logger = structlog.get_logger("servicekit.inbox")
_PROPAGATOR = TraceContextTextMapPropagator()
tracer = trace.get_tracer("servicekit.inbox")

Key = tuple[str, str]

_MESSAGE = InboxMessage._meta.db_table
_CURSOR = InboxCursor._meta.db_table
_PARKED = InboxParked._meta.db_table
# PostgreSQL, one statement: the cursors of the batch's aggregates, locked until commit (in key
# order, so that two workers never lock in opposite orders); the batch's applied ids; its parked
# ids; its aggregates with parked events. Every part probes a unique or leading-column index once
# per id or key (LATERAL ... FOR UPDATE and correlated subqueries are never turned into joins),
# so the plan cannot degrade into scanning all of a consumer's rows when statistics are stale.
_LOAD_SQL = f"""
WITH cursors AS MATERIALIZED (
  SELECT c.id, c.aggregate_type, c.aggregate_id, c.last_sequence
  FROM unnest(%(types)s::text[], %(ids)s::text[]) WITH ORDINALITY AS k(t, i, n)
  CROSS JOIN LATERAL (
    SELECT c.id, c.aggregate_type, c.aggregate_id, c.last_sequence FROM {_CURSOR} c
    WHERE c.consumer = %(consumer)s AND c.aggregate_type = k.t AND c.aggregate_id = k.i
    FOR UPDATE
  ) c
  ORDER BY k.n
)
SELECT 'c', c.id, NULL::uuid, c.aggregate_type, c.aggregate_id, c.last_sequence FROM cursors c
UNION ALL
SELECT 'd', 0, e.id, '', '', 0 FROM unnest(%(events)s::uuid[]) AS e(id)
WHERE (SELECT 1 FROM {_MESSAGE} m WHERE m.consumer = %(consumer)s AND m.event_id = e.id) = 1
UNION ALL
SELECT 'p', 0, e.id, '', '', 0 FROM unnest(%(events)s::uuid[]) AS e(id)
WHERE (SELECT 1 FROM {_PARKED} p WHERE p.consumer = %(consumer)s AND p.event_id = e.id) = 1
UNION ALL
SELECT 'k', 0, NULL::uuid, k.t, k.i, 0 FROM unnest(%(types)s::text[], %(ids)s::text[]) AS k(t, i)
WHERE (
  SELECT 1 FROM {_PARKED} p
  WHERE p.consumer = %(consumer)s AND p.aggregate_type = k.t AND p.aggregate_id = k.i LIMIT 1
) = 1
"""  # noqa: S608
# ... and one statement for the applied records, the new cursors and the moved ones (by id).
_SAVE_SQL = (
    f"WITH applied AS (INSERT INTO {_MESSAGE} "  # noqa: S608
    "(consumer, event_id, event_type, aggregate_type, aggregate_id, sequence, applied_at) "
    "SELECT %s, * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::bigint[], "
    "%s::timestamptz[])), "
    f"created AS (INSERT INTO {_CURSOR} (consumer, aggregate_type, aggregate_id, last_sequence) "
    "SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::bigint[]) "
    "RETURNING id, aggregate_type, aggregate_id), "
    f"moved AS (UPDATE {_CURSOR} c SET last_sequence = v.s "
    "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, s) WHERE c.id = v.id) "
    "SELECT id, aggregate_type, aggregate_id FROM created"
)


class _Batch:
    """What one transaction knows: applied ids, cursors, aggregates with parked events.

    Loads with one query and saves with one statement on PostgreSQL (arrays, unnest); the ORM
    elsewhere. Cursors of the batch's aggregates are locked (FOR UPDATE) until commit.
    """

    def __init__(self, consumer: str, envelopes: Sequence[Envelope]):
        self.consumer = consumer
        self.last_sequence: dict[Key, int] = {}
        self.existing: set[Key] = set()  # cursors that are rows already
        self.cursor_ids: dict[Key, int] = {}  # their primary keys (PostgreSQL)
        self.dirty: set[Key] = set()
        self.records: list[tuple[Envelope, datetime]] = []
        self.done: set[uuid.UUID] = set()
        self.parked_ids: set[uuid.UUID] = set()
        self.parked_keys: set[Key] = set()
        if not envelopes:
            return
        ids = [e.event_id for e in envelopes]
        keys = {e.aggregate_key for e in envelopes}
        if connection.vendor == "postgresql":
            self._load_postgresql(ids, keys)
        else:
            self._load_orm(ids, keys)

    def _load_postgresql(self, ids: list[uuid.UUID], keys: set[Key]) -> None:
        ordered = sorted(keys)
        params = {
            "consumer": self.consumer,
            "types": [k[0] for k in ordered],
            "ids": [k[1] for k in ordered],
            "events": ids,
        }
        rows, _ = prepared.execute(_LOAD_SQL, params)
        for kind, pk, event_id, aggregate_type, aggregate_id, last_sequence in rows:
            if kind == "c":
                key = (aggregate_type, aggregate_id)
                self.last_sequence[key] = last_sequence
                self.existing.add(key)
                self.cursor_ids[key] = pk
            elif kind == "d":
                self.done.add(event_id)
            elif kind == "p":
                self.parked_ids.add(event_id)
            else:
                self.parked_keys.add((aggregate_type, aggregate_id))

    def _load_orm(self, ids: list[uuid.UUID], keys: set[Key]) -> None:
        types, agg_ids = {k[0] for k in keys}, {k[1] for k in keys}
        self.done = set(
            InboxMessage.objects.filter(consumer=self.consumer, event_id__in=ids).values_list(
                "event_id", flat=True
            )
        )
        self.parked_ids = set(
            InboxParked.objects.filter(consumer=self.consumer, event_id__in=ids).values_list(
                "event_id", flat=True
            )
        )
        for cursor in InboxCursor.objects.select_for_update().filter(
            consumer=self.consumer, aggregate_type__in=types, aggregate_id__in=agg_ids
        ):
            key = (cursor.aggregate_type, cursor.aggregate_id)
            if key in keys:
                self.use_cursor(cursor)
        self.parked_keys = {
            key
            for key in InboxParked.objects.filter(
                consumer=self.consumer, aggregate_type__in=types, aggregate_id__in=agg_ids
            ).values_list("aggregate_type", "aggregate_id")
            if key in keys
        }

    def use_cursor(self, cursor: InboxCursor) -> None:
        key = (cursor.aggregate_type, cursor.aggregate_id)
        self.last_sequence[key] = cursor.last_sequence
        self.existing.add(key)
        self.cursor_ids[key] = cursor.pk

    def last(self, key: Key) -> int:
        return self.last_sequence.get(key, 0)

    def advance(self, envelope: Envelope, applied_at: datetime) -> None:
        key = envelope.aggregate_key
        self.last_sequence[key] = envelope.sequence
        self.dirty.add(key)
        self.done.add(envelope.event_id)
        self.records.append((envelope, applied_at))

    def save(self) -> None:
        if not self.records and not self.dirty:
            return
        new = [k for k in self.dirty if k not in self.existing]
        changed = [k for k in self.dirty if k in self.existing]
        if connection.vendor == "postgresql":
            envelopes = [e for e, _ in self.records]
            rows, _ = prepared.execute(
                _SAVE_SQL,
                [
                    self.consumer,
                    [e.event_id for e in envelopes],
                    [e.event_type for e in envelopes],
                    [e.aggregate_type for e in envelopes],
                    [e.aggregate_id for e in envelopes],
                    [e.sequence for e in envelopes],
                    [applied_at for _, applied_at in self.records],
                    self.consumer,
                    [k[0] for k in new],
                    [k[1] for k in new],
                    [self.last_sequence[k] for k in new],
                    [self.cursor_ids[k] for k in changed],
                    [self.last_sequence[k] for k in changed],
                ],
            )
            for pk, aggregate_type, aggregate_id in rows:
                self.cursor_ids[(aggregate_type, aggregate_id)] = pk
        else:
            InboxMessage.objects.bulk_create(
                InboxMessage(
                    consumer=self.consumer,
                    event_id=e.event_id,
                    event_type=e.event_type,
                    aggregate_type=e.aggregate_type,
                    aggregate_id=e.aggregate_id,
                    sequence=e.sequence,
                    applied_at=applied_at,
                )
                for e, applied_at in self.records
            )
            InboxCursor.objects.bulk_create(
                InboxCursor(
                    consumer=self.consumer,
                    aggregate_type=k[0],
                    aggregate_id=k[1],
                    last_sequence=self.last_sequence[k],
                )
                for k in new
            )
            for key in changed:
                InboxCursor.objects.filter(
                    consumer=self.consumer, aggregate_type=key[0], aggregate_id=key[1]
                ).update(last_sequence=self.last_sequence[key])
        self.existing.update(new)
        self.dirty.clear()
        self.records.clear()


class InboxProcessor:
    """Runs a consumer's handlers. Call `process` with delivered envelopes, then acknowledge."""

    def __init__(
        self,
        consumer: EventConsumer,
        *,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        gap_report_seconds: float = 30.0,
    ):
        self.consumer = consumer
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.gap_report_seconds = gap_report_seconds
        self._metric_children: dict[str, tuple] = {}

    # delivery -------------------------------------------------------------------------------
    def process(self, envelopes: Sequence[Envelope]) -> None:
        """Apply or park every envelope, durably; afterwards they may be acknowledged.

        All in one transaction for throughput; if a handler fails, again one by one, so that only
        the failing event is parked (and its aggregate waits) while the others are applied.
        """
        if not envelopes:
            return
        try:
            with transaction.atomic():
                self._process(envelopes, isolate=False)
                crash_point(INBOX_BEFORE_COMMIT)
        except _HandlerFailed:
            for envelope in envelopes:
                with transaction.atomic():
                    self._process([envelope], isolate=True)
                    crash_point(INBOX_BEFORE_COMMIT)
        crash_point(INBOX_AFTER_COMMIT)

    def _process(self, envelopes: Sequence[Envelope], *, isolate: bool) -> None:
        batch = _Batch(self.consumer.name, envelopes)
        for envelope in envelopes:
            key = envelope.aggregate_key
            if envelope.event_id in batch.done or envelope.event_id in batch.parked_ids:
                self._duplicate(envelope)
                continue
            expected = batch.last(key) + 1
            if envelope.sequence < expected:
                self._duplicate(envelope)
                continue
            if envelope.sequence > expected:
                self._park(envelope, ParkedReason.OUT_OF_ORDER, expected=expected)
                batch.parked_ids.add(envelope.event_id)
                batch.parked_keys.add(key)
                continue
            if not self._apply(envelope, batch, isolate=isolate):
                batch.parked_keys.add(key)
                continue
            if key in batch.parked_keys:
                self._drain_parked(key, batch, isolate=isolate)
        batch.save()

    def _duplicate(self, envelope: Envelope) -> None:
        INBOX_DUPLICATES.labels(self.consumer.name, envelope.event_type).inc()
        logger.info(
            "inbox.duplicate_skipped",
            consumer=self.consumer.name,
            event_id=str(envelope.event_id),
            sequence=envelope.sequence,
        )

    # applying -------------------------------------------------------------------------------
    def _apply(self, envelope: Envelope, batch: _Batch, *, isolate: bool) -> bool:
        """Run the handler and advance the cursor. False: it failed and the event was parked."""
        handler = self.consumer.handler_for(envelope.event_type)
        try:
            # A savepoint only where a failure is parked in this transaction; in a batch, a
            # failure rolls everything back and the batch is redone one event at a time.
            with (
                self._context(envelope),
                transaction.atomic() if isolate else contextlib.nullcontext(),
            ):
                if handler is not None:
                    handler(decode(envelope), envelope)
        except Exception as exc:
            if not isolate:
                raise _HandlerFailed from exc
            self._park_failed(envelope, error=repr(exc))
            return False
        applied_at = now_utc()
        batch.advance(envelope, applied_at)
        applied, lag = self._metrics(envelope.event_type)
        applied.inc()
        lag.observe(max((applied_at - envelope.occurred_at).total_seconds(), 0.0))
        logger.info(
            "inbox.applied",
            consumer=self.consumer.name,
            event_id=str(envelope.event_id),
            event_type=envelope.event_type,
            aggregate_type=envelope.aggregate_type,
            aggregate_id=envelope.aggregate_id,
            sequence=envelope.sequence,
            handled=handler is not None,
        )
        return True

    def _metrics(self, event_type: str):
        """The applied counter and lag histogram of an event type (label lookups cached)."""
        children = self._metric_children.get(event_type)
        if children is None:
            children = self._metric_children[event_type] = (
                INBOX_APPLIED.labels(self.consumer.name, event_type),
                INBOX_LAG.labels(self.consumer.name, event_type),
            )
        return children

    @contextlib.contextmanager
    def _context(self, envelope: Envelope) -> Iterator[None]:
        """Continue the producer's trace and correlation id; mark the change as applied."""
        parent = _PROPAGATOR.extract(
            {"traceparent": envelope.traceparent, "tracestate": envelope.tracestate}
        )
        with (
            structlog.contextvars.bound_contextvars(
                correlation_id=envelope.correlation_id,
                request_id=envelope.correlation_id,
                event_id=str(envelope.event_id),
            ),
            tracer.start_as_current_span(
                f"{envelope.event_type} process",
                context=parent,
                kind=trace.SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "rabbitmq",
                    "messaging.consumer.group.name": self.consumer.name,
                    "messaging.message.id": str(envelope.event_id),
                },
            ),
            applying_event(envelope),
        ):
            yield

    def _drain_parked(self, key: Key, batch: _Batch, *, isolate: bool) -> None:
        """Apply the parked successors that the cursor just reached, in order."""
        while True:
            parked = InboxParked.objects.filter(
                consumer=self.consumer.name,
                aggregate_type=key[0],
                aggregate_id=key[1],
                sequence=batch.last(key) + 1,
                reason=ParkedReason.OUT_OF_ORDER,
            ).first()
            if parked is None:
                return
            if not self._apply(parked.to_envelope(), batch, isolate=isolate):
                return  # _park_failed turned this row into a failed one; it is retried later
            parked.delete()
            logger.info(
                "inbox.unparked",
                consumer=self.consumer.name,
                event_id=str(parked.event_id),
                sequence=parked.sequence,
            )

    # parking --------------------------------------------------------------------------------
    def _park(self, envelope: Envelope, reason: str, *, expected: int) -> None:
        now = now_utc()
        InboxParked.objects.create(
            consumer=self.consumer.name,
            event_id=envelope.event_id,
            event_type=envelope.event_type,
            aggregate_type=envelope.aggregate_type,
            aggregate_id=envelope.aggregate_id,
            sequence=envelope.sequence,
            envelope=envelope.to_dict(),
            reason=reason,
            next_attempt_at=now,
            parked_at=now,
        )
        INBOX_PARKED.labels(self.consumer.name, envelope.event_type, reason).inc()
        logger.info(
            "inbox.parked_out_of_order",
            consumer=self.consumer.name,
            event_id=str(envelope.event_id),
            aggregate_type=envelope.aggregate_type,
            aggregate_id=envelope.aggregate_id,
            sequence=envelope.sequence,
            expected=expected,
        )

    def _park_failed(self, envelope: Envelope, *, error: str) -> None:
        now = now_utc()
        row, _created = InboxParked.objects.update_or_create(
            consumer=self.consumer.name,
            event_id=envelope.event_id,
            defaults={"reason": ParkedReason.FAILED, "last_error": error[:4000]},
            create_defaults={
                "event_type": envelope.event_type,
                "aggregate_type": envelope.aggregate_type,
                "aggregate_id": envelope.aggregate_id,
                "sequence": envelope.sequence,
                "envelope": envelope.to_dict(),
                "reason": ParkedReason.FAILED,
                "last_error": error[:4000],
                "next_attempt_at": now,
                "parked_at": now,
            },
        )
        row.attempts += 1
        if row.attempts >= self.max_attempts:
            row.reason = ParkedReason.DEAD
        row.next_attempt_at = now + timedelta(
            seconds=backoff_delay(row.attempts, base=self.backoff_base, cap=300.0)
        )
        row.save(update_fields=["attempts", "reason", "next_attempt_at"])
        INBOX_PARKED.labels(self.consumer.name, envelope.event_type, row.reason).inc()
        log = logger.error if row.reason == ParkedReason.DEAD else logger.warning
        log(
            f"inbox.handler_{'dead_lettered' if row.reason == ParkedReason.DEAD else 'failed'}",
            consumer=self.consumer.name,
            event_id=str(envelope.event_id),
            event_type=envelope.event_type,
            aggregate_id=envelope.aggregate_id,
            sequence=envelope.sequence,
            attempts=row.attempts,
            error=error,
        )

    def resume(self, aggregate_type: str, aggregate_id: str) -> int:
        """After the cursor was moved from outside (a backfill seeded it from a snapshot): drop
        the parked events it has passed and apply the parked successors it now reaches.
        Call inside the transaction that moved the cursor. Returns how many were applied."""
        key = (aggregate_type, aggregate_id)
        batch = _Batch(self.consumer.name, [])
        cursor = (
            InboxCursor.objects.select_for_update()
            .filter(
                consumer=self.consumer.name,
                aggregate_type=aggregate_type,
                aggregate_id=aggregate_id,
            )
            .first()
        )
        if cursor is not None:
            batch.use_cursor(cursor)
        passed = InboxParked.objects.filter(
            consumer=self.consumer.name,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            sequence__lte=batch.last(key),
            reason=ParkedReason.OUT_OF_ORDER,
        )
        passed.delete()
        before = batch.last(key)
        self._drain_parked(key, batch, isolate=True)
        batch.save()
        return batch.last(key) - before

    # housekeeping ---------------------------------------------------------------------------
    def sweep(self) -> int:
        """Retry failed events that are due, and report gaps. Returns how many were retried."""
        now = now_utc()
        due = list(
            InboxParked.objects.filter(
                consumer=self.consumer.name, reason=ParkedReason.FAILED, next_attempt_at__lte=now
            ).order_by("sequence")[:100]
        )
        for parked in due:
            with transaction.atomic():
                row = InboxParked.objects.select_for_update().filter(pk=parked.pk).first()
                if row is None or row.reason != ParkedReason.FAILED:
                    continue
                envelope = row.to_envelope()
                batch = _Batch(self.consumer.name, [envelope])
                if batch.last(envelope.aggregate_key) + 1 != envelope.sequence:
                    continue
                if self._apply(envelope, batch, isolate=True):
                    row.delete()
                    self._drain_parked(envelope.aggregate_key, batch, isolate=True)
                batch.save()
        self._report_gaps(now)
        return len(due)

    def _report_gaps(self, now: datetime) -> None:
        cutoff = now - timedelta(seconds=self.gap_report_seconds)
        waiting = InboxParked.objects.filter(
            consumer=self.consumer.name, parked_at__lte=cutoff, gap_reported_at__isnull=True
        ).exclude(reason=ParkedReason.FAILED)
        for row in waiting[:100]:
            cursor = InboxCursor.objects.filter(
                consumer=self.consumer.name,
                aggregate_type=row.aggregate_type,
                aggregate_id=row.aggregate_id,
            ).first()
            logger.error(
                "inbox.gap",
                consumer=self.consumer.name,
                reason=row.reason,
                aggregate_type=row.aggregate_type,
                aggregate_id=row.aggregate_id,
                waiting_sequence=row.sequence,
                expected_sequence=(cursor.last_sequence if cursor else 0) + 1,
                waiting_since=row.parked_at.isoformat(),
            )
            InboxParked.objects.filter(pk=row.pk).update(gap_reported_at=now)


class _HandlerFailed(Exception):
    """A handler raised during a batch: redo the batch one event per transaction."""
