"""The relay loop: claim, publish with confirms, mark sent; wake on NOTIFY or short polls."""

from __future__ import annotations

import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from django.db import close_old_connections, connection, transaction
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from contracts.envelope import now_utc
from servicekit.broker import BrokerUnavailable, Publisher
from servicekit.events_metrics import OUTBOX_PUBLISH_FAILURES, OUTBOX_PUBLISHED
from servicekit.faults import RELAY_AFTER_CLAIM, RELAY_AFTER_PUBLISH, crash_point
from servicekit.outbox.models import OutboxStatus
from servicekit.outbox.services import NOTIFY_CHANNEL
from servicekit.relay import claims

logger = structlog.get_logger("servicekit.relay")
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

        self._connection = psycopg.connect(
            dbname=settings_dict["NAME"],
            user=settings_dict.get("USER") or None,
            password=settings_dict.get("PASSWORD") or None,
            host=settings_dict.get("HOST") or None,
            port=settings_dict.get("PORT") or None,
            autocommit=True,
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
        from servicekit.events_settings import events_settings

        s = events_settings()
        return cls(
            batch_size=s.RELAY_BATCH_SIZE,
            lease_seconds=s.RELAY_LEASE_SECONDS,
            max_attempts=s.RELAY_MAX_ATTEMPTS,
            backoff_base=s.RELAY_BACKOFF_BASE,
            backoff_max=s.RELAY_BACKOFF_MAX,
            idle_interval=s.RELAY_IDLE_INTERVAL,
        )


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

    def run_once(self) -> int:
        """One claim-publish-mark round. Returns how many rows it claimed (0: caught up)."""
        now = now_utc()
        rows = claims.claim_batch(
            relay_id=self.relay_id,
            limit=self.config.batch_size,
            lease_seconds=self.config.lease_seconds,
            now=now,
        )
        if not rows:
            return 0
        crash_point(RELAY_AFTER_CLAIM)
        envelopes = [row.to_envelope() for row in rows]
        try:
            with self._span(rows[0]):
                result = self.publisher.publish(envelopes)
        except BrokerUnavailable as exc:
            with transaction.atomic():
                claims.release(relay_id=self.relay_id, pks=[r.pk for r in rows])
            self._broker_failures += 1
            delay = random.uniform(
                0, min(self.config.reconnect_max, 0.2 * 2**self._broker_failures)
            )
            logger.warning(
                "relay.broker_unavailable",
                error=str(exc),
                released=len(rows),
                retry_in=round(delay, 3),
            )
            time.sleep(delay)
            return len(rows)
        self._broker_failures = 0
        crash_point(RELAY_AFTER_PUBLISH)
        confirmed = set(result.confirmed)
        by_id = {row.event_id: row for row in rows}
        done = now_utc()
        with transaction.atomic():
            claims.mark_sent(
                relay_id=self.relay_id,
                pks=[by_id[event_id].pk for event_id in confirmed],
                now=done,
            )
            for event_id, error in result.failed.items():
                row = by_id[event_id]
                status = claims.record_failure(
                    row=row,
                    error=error,
                    now=done,
                    max_attempts=self.config.max_attempts,
                    base=self.config.backoff_base,
                    cap=self.config.backoff_max,
                )
                outcome = "dead" if status == OutboxStatus.DEAD else "retry"
                OUTBOX_PUBLISH_FAILURES.labels(row.event_type, outcome).inc()
                log = logger.error if outcome == "dead" else logger.warning
                log(
                    f"outbox.{'dead_lettered' if outcome == 'dead' else 'publish_failed'}",
                    event_id=str(event_id),
                    event_type=row.event_type,
                    aggregate_type=row.aggregate_type,
                    aggregate_id=row.aggregate_id,
                    sequence=row.sequence,
                    attempts=row.attempts + 1,
                    error=error,
                )
            unresolved = [
                r.pk
                for r in rows
                if r.event_id not in confirmed and r.event_id not in result.failed
            ]
            claims.release(relay_id=self.relay_id, pks=unresolved)
        for row in rows:
            if row.event_id in confirmed:
                OUTBOX_PUBLISHED.labels(row.event_type).inc()
        self.published += len(confirmed)
        logger.info(
            "outbox.sent",
            count=len(confirmed),
            failed=len(result.failed),
            first_event_id=str(rows[0].event_id),
            relay_id=self.relay_id,
        )
        return len(rows)

    def _span(self, row):
        # A publish span continues the trace of the (first) event's original request.
        parent = TraceContextTextMapPropagator().extract(
            {"traceparent": row.traceparent, "tracestate": row.tracestate}
        )
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
    ) -> None:
        """Loop until `stop` is set (or `until()` is true): drain, then wait for a wake-up."""
        stop = stop or threading.Event()
        logger.info("relay.started", relay_id=self.relay_id)
        upkeep_due = 0.0
        try:
            while not stop.is_set() and not (until and until()):
                if time.monotonic() >= upkeep_due:
                    # Connection upkeep (max age, health check query) once a second, not per
                    # round; a failed round closes an unusable connection right away.
                    close_old_connections()
                    upkeep_due = time.monotonic() + 1.0
                try:
                    claimed = self.run_once()
                except Exception as exc:  # database hiccup: log, back off, keep the process up
                    logger.exception("relay.round_failed", error=repr(exc))
                    close_old_connections()
                    time.sleep(1.0)
                    continue
                if claimed < self.config.batch_size:
                    waker.wait(self.config.idle_interval if claimed == 0 else 0)
        finally:
            self.publisher.close()
            logger.info("relay.stopped", relay_id=self.relay_id, published=self.published)
