"""The relay loop: claim, publish with confirms, mark sent; wake on NOTIFY or short polls."""

from __future__ import annotations

import collections
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog
from django.db import close_old_connections, connection, transaction
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from servicekit.events.broker.base import BrokerUnavailable, Publisher, PublishResult, SentBatch
from servicekit.events.envelope import now_utc
from servicekit.events.faults import RELAY_AFTER_CLAIM, RELAY_AFTER_PUBLISH, crash_point
from servicekit.events.metrics import OUTBOX_PUBLISH_FAILURES, OUTBOX_PUBLISHED
from servicekit.events.outbox.models import OutboxStatus
from servicekit.events.outbox.services import NOTIFY_CHANNEL
from servicekit.events.relay import claims
from servicekit.web.backoff import backoff_delay

logger = structlog.get_logger("servicekit.relay")
_stdlib_logger = logging.getLogger("servicekit.relay")  # where structlog's lines end (levels)
_PROPAGATOR = TraceContextTextMapPropagator()
tracer = trace.get_tracer("servicekit.relay")


class Waker:
    """Sleeps until new outbox rows may exist."""

    def wait(self, timeout: float) -> None:
        time.sleep(timeout)

    def close(self) -> None:
        return None


class PollingWaker(Waker):
    def __init__(self, interval: float):
        self.interval = interval

    def wait(self, timeout: float) -> None:
        time.sleep(min(timeout, self.interval))


class PostgresNotifyWaker(Waker):
    """LISTENs on its own autocommit connection; `outbox_enqueue` NOTIFYs at commit."""

    def __init__(self, settings_dict: dict, *, channel: str = NOTIFY_CHANNEL):
        import psycopg

        from servicekit.web.tls.stores import libpq_tls_parameters

        self._connection = psycopg.connect(
            dbname=settings_dict["NAME"],
            user=settings_dict.get("USER") or None,
            password=settings_dict.get("PASSWORD") or None,
            host=settings_dict.get("HOST") or None,
            port=settings_dict.get("PORT") or None,
            autocommit=True,
            # the TLS the database URL asked for (sslmode, the CA), as Django's own connection
            **libpq_tls_parameters(settings_dict.get("OPTIONS")),
        )
        self._connection.execute(f"LISTEN {channel}")

    def wait(self, timeout: float) -> None:
        for _ in self._connection.notifies(timeout=timeout, stop_after=1):
            break

    def close(self) -> None:
        self._connection.close()


def waker_for_default_database(poll_interval: float) -> Waker:
    if connection.vendor == "postgresql":
        try:
            return PostgresNotifyWaker(dict(connection.settings_dict))
        except Exception as exc:
            logger.warning("relay.listen_unavailable", error=repr(exc))
    return PollingWaker(poll_interval)


@dataclass
class RelayConfig:
    batch_size: int = 500
    lease_seconds: float = 30.0
    max_attempts: int = 8
    backoff_base: float = 0.5
    backoff_max: float = 300.0
    idle_interval: float = 1.0
    reconnect_max: float = 10.0

    @classmethod
    def from_settings(cls) -> RelayConfig:
        from servicekit.events.settings import events_settings

        s = events_settings()
        return cls(
            batch_size=s.RELAY_BATCH_SIZE,
            lease_seconds=s.RELAY_LEASE_SECONDS,
            max_attempts=s.RELAY_MAX_ATTEMPTS,
            backoff_base=s.RELAY_BACKOFF_BASE,
            backoff_max=s.RELAY_BACKOFF_MAX,
            idle_interval=s.RELAY_IDLE_INTERVAL,
        )


@dataclass
class _Inflight:
    rows: list[claims.ClaimedRow]
    sent: SentBatch
    result: PublishResult | None = None  # once confirmed


class Relay:
    """Publishes outbox rows. Run several at once: claims keep them apart, order per aggregate."""

    def __init__(
        self, *, publisher: Publisher, config: RelayConfig | None = None, relay_id: str = ""
    ):
        self.publisher = publisher
        self.config = config or RelayConfig()
        self.relay_id = relay_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.published = 0
        self._broker_failures = 0
        self._inflight: _Inflight | None = None  # sent by `run`, confirms not yet processed
        self._confirmed: _Inflight | None = None  # confirmed, marked sent with the next claim

    def run_once(self) -> int:
        """One claim-publish-mark round. Returns how many rows it claimed (0: caught up)."""
        rows = self._claim()
        if not rows:
            return 0
        batch = self._send(rows)
        if batch is not None:
            self._finish(batch)
        return len(rows)

    def _step(self) -> int:
        """One pipelined round, the way `run` drives the relay:

        1. mark sent the batch confirmed last round and claim the next one (one round trip);
        2. send the claimed batch without waiting for its confirms;
        3. wait for the confirms of the batch sent last round: they travelled during 1 and 2.

        A batch's rows stay leased until marked, so the later events of their aggregates are not
        claimed before that (order holds). Returns the rows claimed and confirmed: what the next
        round has to send or mark. 0 (idle) after a round that only marked: its claim found
        nothing, and a row committed since NOTIFYs the waker, so no claim follows at once.
        """
        to_mark, self._confirmed = self._confirmed, None
        try:
            rows = self._claim(mark=to_mark)
        except Exception:
            self._confirmed = to_mark  # marked with a later claim (or re-published after lease)
            raise
        if to_mark is not None:
            self._count_sent(to_mark.rows, to_mark.result)
        batch = self._send(rows) if rows else None
        if rows and batch is None:  # the broker is down: the previous batch went with it
            return len(rows)
        previous, self._inflight = self._inflight, batch
        confirmed = self._confirm(previous) if previous is not None else 0
        return len(rows) + confirmed

    def _drain(self) -> None:
        """Settle what `_step` left in flight (when the loop stops)."""
        if self._inflight is not None:
            batch, self._inflight = self._inflight, None
            self._confirm(batch)
        if self._confirmed is not None:
            batch, self._confirmed = self._confirmed, None
            self._settle(batch.rows, batch.result)

    def _claim(self, mark: _Inflight | None = None) -> list[claims.ClaimedRow]:
        now = now_utc()
        if mark is None:
            rows = claims.claim_batch(
                relay_id=self.relay_id,
                limit=self.config.batch_size,
                lease_seconds=self.config.lease_seconds,
                now=now,
            )
        else:
            rows = claims.mark_sent_and_claim(
                relay_id=self.relay_id,
                sent=[row.pk for row in mark.rows],
                sent_at=now,
                limit=self.config.batch_size,
                lease_seconds=self.config.lease_seconds,
                now=now,
            )
        if rows:
            crash_point(RELAY_AFTER_CLAIM)
        return rows

    def _send(self, rows: list[claims.ClaimedRow]) -> _Inflight | None:
        """Publish without waiting for confirms; None (rows released) if the broker is down."""
        envelopes = [row.to_envelope() for row in rows]
        try:
            with self._span(rows[0]):
                send = getattr(self.publisher, "send", None)
                if send is None:  # a publisher that only publishes whole batches
                    return _Inflight(rows, SentBatch(result=self.publisher.publish(envelopes)))
                return _Inflight(rows, send(envelopes))
        except BrokerUnavailable as exc:
            self._broker_down(exc, rows)
            return None

    def _finish(self, batch: _Inflight) -> int:
        """Wait for a sent batch's confirms, then mark sent / count failures. Returns its size."""
        result = self._await_confirms(batch)
        if result is not None:
            self._settle(batch.rows, result)
        return len(batch.rows)

    def _confirm(self, batch: _Inflight) -> int:
        """Wait for a sent batch's confirms; a clean batch is marked sent with the next claim,
        failures are recorded now. Returns its size."""
        result = self._await_confirms(batch)
        if result is None:
            return len(batch.rows)
        if result.failed or not set(result.confirmed).issuperset(r.event_id for r in batch.rows):
            self._settle(batch.rows, result)
        else:
            batch.result = result
            self._confirmed = batch
        return len(batch.rows)

    def _await_confirms(self, batch: _Inflight) -> PublishResult | None:
        """The broker's verdict on a sent batch; None if the broker went away (rows released)."""
        confirm = getattr(self.publisher, "confirm", None)
        try:
            result = confirm(batch.sent) if confirm is not None else batch.sent.result
        except BrokerUnavailable as exc:
            self._broker_down(exc, batch.rows)
            return None
        self._broker_failures = 0
        crash_point(RELAY_AFTER_PUBLISH)
        return result

    def _broker_down(self, exc: BrokerUnavailable, rows: list[claims.ClaimedRow]) -> None:
        """Release the rows (and those of a batch still waiting for confirms) without blame."""
        if self._inflight is not None:
            rows = [*rows, *self._inflight.rows]
            self._inflight = None
        with transaction.atomic():
            claims.release(relay_id=self.relay_id, pks=[r.pk for r in rows])
        self._broker_failures += 1
        delay = backoff_delay(self._broker_failures, base=0.4, cap=self.config.reconnect_max)
        logger.warning(
            "relay.broker_unavailable",
            error=str(exc),
            released=len(rows),
            retry_in=round(delay, 3),
        )
        time.sleep(delay)

    def _settle(self, rows: list[claims.ClaimedRow], result: PublishResult) -> None:
        confirmed = set(result.confirmed)
        done = now_utc()
        confirmed_pks = [row.pk for row in rows if row.event_id in confirmed]
        unresolved = [
            r.pk for r in rows if r.event_id not in confirmed and r.event_id not in result.failed
        ]
        if not result.failed and not unresolved:
            # The common case: one autocommit statement.
            claims.mark_sent(relay_id=self.relay_id, pks=confirmed_pks, now=done)
        else:
            by_id = {row.event_id: row for row in rows}
            with transaction.atomic():
                claims.mark_sent(relay_id=self.relay_id, pks=confirmed_pks, now=done)
                for event_id, error in result.failed.items():
                    self._record_failure(by_id[event_id], error, done)
                claims.release(relay_id=self.relay_id, pks=unresolved)
        self._count_sent(rows, result)

    def _count_sent(self, rows: list[claims.ClaimedRow], result: PublishResult) -> None:
        confirmed = set(result.confirmed)
        published: collections.Counter[str] = collections.Counter()
        log_events = _stdlib_logger.isEnabledFor(logging.INFO)  # built only when kept
        for row in rows:
            if row.event_id in confirmed:
                published[row.event_type] += 1
                if not log_events:
                    continue
                # One line per event, with the id of the request that caused it: a request can
                # be followed from the proxy through the relay to its consumers.
                logger.info(
                    "outbox.published",
                    event_id=str(row.event_id),
                    event_type=row.event_type,
                    request_id=row.correlation_id,
                )
        for event_type, count in published.items():  # one increment per type and batch
            OUTBOX_PUBLISHED.labels(event_type).inc(count)
        self.published += len(confirmed)
        logger.info(
            "outbox.sent",
            count=len(confirmed),
            failed=len(result.failed),
            first_event_id=str(rows[0].event_id),
            relay_id=self.relay_id,
        )

    def _record_failure(self, row: claims.ClaimedRow, error: str, now: datetime) -> None:
        status = claims.record_failure(
            row=row,
            error=error,
            now=now,
            max_attempts=self.config.max_attempts,
            base=self.config.backoff_base,
            cap=self.config.backoff_max,
        )
        outcome = "dead" if status == OutboxStatus.DEAD else "retry"
        OUTBOX_PUBLISH_FAILURES.labels(row.event_type, outcome).inc()
        log = logger.error if outcome == "dead" else logger.warning
        log(
            f"outbox.{'dead_lettered' if outcome == 'dead' else 'publish_failed'}",
            event_id=str(row.event_id),
            event_type=row.event_type,
            aggregate_type=row.aggregate_type,
            aggregate_id=row.aggregate_id,
            sequence=row.sequence,
            attempts=row.attempts + 1,
            error=error,
        )

    def _span(self, row):
        # A publish span continues the trace of the (first) event's original request.
        parent = _PROPAGATOR.extract({"traceparent": row.traceparent, "tracestate": row.tracestate})
        return tracer.start_as_current_span(
            "outbox publish",
            context=parent,
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.destination.name": row.event_type,
                "messaging.message.id": str(row.event_id),
            },
        )

    def run(
        self,
        *,
        waker: Waker,
        stop: threading.Event | None = None,
        until: Callable[[], bool] | None = None,
        paused: threading.Event | None = None,
    ) -> None:
        """Loop until `stop` is set (or `until()` is true): drain, then wait for a wake-up.

        While `paused` is set the loop settles what it has in flight and then idles between
        rounds, outside any transaction and holding no lock (a process frozen with SIGSTOP may be
        frozen inside one: on SQLite every writer of the database would then wait behind it)."""
        stop = stop or threading.Event()
        logger.info("relay.started", relay_id=self.relay_id)
        upkeep_due = 0.0
        was_paused = False
        try:
            while not stop.is_set() and not (until and until()):
                if paused is not None and paused.is_set():
                    if not was_paused:
                        self._drain()
                        close_old_connections()
                        logger.info("relay.paused", relay_id=self.relay_id)
                        was_paused = True
                    stop.wait(0.2)
                    continue
                if was_paused:
                    logger.info("relay.resumed", relay_id=self.relay_id)
                    was_paused = False
                if time.monotonic() >= upkeep_due:
                    # Connection upkeep (max age, health check query) once a second, not per
                    # round; a failed round closes an unusable connection right away.
                    close_old_connections()
                    upkeep_due = time.monotonic() + 1.0
                try:
                    claimed = self._step()
                except Exception as exc:  # database hiccup: log, back off, keep the process up
                    logger.exception("relay.round_failed", error=repr(exc))
                    close_old_connections()
                    time.sleep(1.0)
                    continue
                if claimed < self.config.batch_size:
                    waker.wait(self.config.idle_interval if claimed == 0 else 0)
            if self._inflight is not None or self._confirmed is not None:
                try:
                    self._drain()
                except Exception as exc:  # its leases expire; another relay re-publishes
                    logger.exception("relay.round_failed", error=repr(exc))
        finally:
            self.publisher.close()
            logger.info("relay.stopped", relay_id=self.relay_id, published=self.published)
