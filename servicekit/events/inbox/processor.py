"""Applying delivered events: once per (consumer, event id), in sequence order per aggregate."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog
from django.db import transaction

from servicekit.events import prepared
from servicekit.events.envelope import Envelope, now_utc
from servicekit.events.faults import INBOX_AFTER_COMMIT, INBOX_BEFORE_COMMIT, crash_point
from servicekit.events.inbox.batch import InboxBatch, Key
from servicekit.events.inbox.middleware import InboxMiddleware, default_middleware
from servicekit.events.inbox.models import InboxCursor, InboxParked, ParkedReason
from servicekit.events.inbox.registry import EventConsumer
from servicekit.web.backoff import backoff_delay

logger = structlog.get_logger("servicekit.inbox")
# structlog hands every line to this stdlib logger, which drops it below its level: per-event lines
# are only built when it would keep them (checked once per batch, not per event).
_stdlib_logger = logging.getLogger("servicekit.inbox")


def _overrides(middleware: InboxMiddleware, hook: str) -> bool:
    return getattr(type(middleware), hook) is not getattr(InboxMiddleware, hook)


class InboxProcessor:
    """Runs a consumer's handlers. Call `process` with delivered envelopes, then acknowledge."""

    def __init__(
        self,
        consumer: EventConsumer,
        *,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        gap_report_seconds: float = 30.0,
        middleware: Sequence[InboxMiddleware] | None = None,
    ):
        self.consumer = consumer
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.gap_report_seconds = gap_report_seconds
        self.middleware = list(default_middleware() if middleware is None else middleware)
        # Per event, only the middleware that override a hook are called for it.
        self._around = [m for m in self.middleware if _overrides(m, "around_handler")]
        self._after_apply = [m for m in self.middleware if _overrides(m, "after_apply")]
        self._before_batch = [m for m in self.middleware if _overrides(m, "before_batch")]
        self._log_events = True

    def _begin_batch(self) -> None:
        """What holds for a whole batch, decided once: log levels, middleware's own checks."""
        self._log_events = _stdlib_logger.isEnabledFor(logging.INFO)
        for middleware in self._before_batch:
            middleware.before_batch(self.consumer.name)

    # delivery -------------------------------------------------------------------------------
    def process(self, envelopes: Sequence[Envelope]) -> None:
        """Apply or park every envelope, durably; afterwards they may be acknowledged.

        All in one transaction for throughput, its statements pipelined on PostgreSQL; if a
        handler fails, again one by one and not pipelined, so that only the failing event is
        parked (and its aggregate waits) while the others are applied.
        """
        if not envelopes:
            return
        self._begin_batch()
        try:
            with transaction.atomic():
                self._process_pipelined(envelopes)
                crash_point(INBOX_BEFORE_COMMIT)
        except _HandlerFailed:
            for envelope in envelopes:
                with transaction.atomic():
                    self._process([envelope], isolate=True)
                    crash_point(INBOX_BEFORE_COMMIT)
        crash_point(INBOX_AFTER_COMMIT)

    def _process_pipelined(self, envelopes: Sequence[Envelope]) -> None:
        """The batch with the handlers' statements pipelined (`prepared.handlers_pipelined`).

        A failed statement raises at the next read of a result or when the pipeline ends, not
        necessarily in its own handler: any error of the block is a handler failure, and the
        batch is redone one event per transaction, where each handler sees its own errors."""
        pipelined = False
        try:
            with prepared.handlers_pipelined() as pipelined:
                self._process(envelopes, isolate=False)
        except _HandlerFailed:
            raise
        except Exception as exc:
            if not pipelined:
                raise
            raise _HandlerFailed from exc

    def _process(self, envelopes: Sequence[Envelope], *, isolate: bool) -> None:
        batch = InboxBatch(self.consumer.name, envelopes)
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
        for middleware in self.middleware:
            middleware.after_duplicate(self.consumer.name, envelope)
        if not self._log_events:
            return
        logger.info(
            "inbox.duplicate_skipped",
            consumer=self.consumer.name,
            event_id=str(envelope.event_id),
            sequence=envelope.sequence,
        )

    # applying -------------------------------------------------------------------------------
    def _apply(self, envelope: Envelope, batch: InboxBatch, *, isolate: bool) -> bool:
        """Run the handler and advance the cursor. False: it failed and the event was parked."""
        handler = self.consumer.handler_for(envelope.event_type)
        try:
            # A savepoint only where a failure is parked in this transaction; in a batch, a
            # failure rolls everything back and the batch is redone one event at a time.
            with contextlib.ExitStack() as around:
                for middleware in self._around:
                    around.enter_context(middleware.around_handler(self.consumer.name, envelope))
                if isolate:
                    around.enter_context(transaction.atomic())
                if handler is not None:
                    handler(self.consumer.decode(envelope), envelope)
        except Exception as exc:
            if not isolate:
                raise _HandlerFailed from exc
            self._park_failed(envelope, error=repr(exc))
            return False
        applied_at = now_utc()
        batch.advance(envelope, applied_at)
        for middleware in self._after_apply:
            middleware.after_apply(self.consumer.name, envelope, applied_at)
        if not self._log_events:
            return True
        logger.info(
            "inbox.applied",
            consumer=self.consumer.name,
            request_id=envelope.correlation_id,
            event_id=str(envelope.event_id),
            event_type=envelope.event_type,
            aggregate_type=envelope.aggregate_type,
            aggregate_id=envelope.aggregate_id,
            sequence=envelope.sequence,
            handled=handler is not None,
        )
        return True

    def _drain_parked(self, key: Key, batch: InboxBatch, *, isolate: bool) -> None:
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
        self._parked(envelope, reason)
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
        self._parked(envelope, row.reason)
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

    def _parked(self, envelope: Envelope, reason: str) -> None:
        for middleware in self.middleware:
            middleware.after_park(self.consumer.name, envelope, reason)

    def resume(self, aggregate_type: str, aggregate_id: str) -> int:
        """After the cursor was moved from outside (a backfill seeded it from a snapshot): drop
        the parked events it has passed and apply the parked successors it now reaches.
        Call inside the transaction that moved the cursor. Returns how many were applied."""
        key = (aggregate_type, aggregate_id)
        self._begin_batch()
        batch = InboxBatch(self.consumer.name, [])
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
        self._begin_batch()
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
                batch = InboxBatch(self.consumer.name, [envelope])
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
