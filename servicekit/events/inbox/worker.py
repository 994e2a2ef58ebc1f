"""The consumer process: reads its service's queue with kombu, applies in batches, then acks."""

from __future__ import annotations

import contextlib
import select
import threading
import time
from collections.abc import Callable, Mapping, Sequence

import structlog
from django.db import close_old_connections
from kombu import Consumer, Message

from servicekit.events.broker.topology import (
    broker_connection,
    declare_topology,
    event_exchange,
    service_queue,
)
from servicekit.events.envelope import Envelope
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.web.backoff import backoff_delay

logger = structlog.get_logger("servicekit.inbox")

# AMQP: a batch takes the deliveries that have reached the socket (see `_arriving`), and waits
# this long at most for the rest of one that has begun to arrive.
FRAME_WAIT = 0.01
# Other transports, which cannot be asked: a gap this long without a delivery ends a batch
# early; after `batch_wait`, a delivery not there within RECEIVED_GAP is not waiting. (Not 0:
# non-blocking reads can spin on a message that is only partly received.)
IDLE_GAP = 0.0005
RECEIVED_GAP = 0.00005


class InboxWorker:
    """One consumer of one queue. Messages are acknowledged only after their batch committed."""

    def __init__(
        self,
        processor: InboxProcessor,
        *,
        url: str,
        transport_options: Mapping | None,
        exchange_name: str,
        subscriptions: Mapping[str, Sequence[str]],
        batch_size: int = 200,
        prefetch: int = 500,
        batch_wait: float = 0.01,
        sweep_interval: float = 1.0,
    ):
        self.processor = processor
        self.queue_name = processor.consumer.name
        if self.queue_name not in subscriptions:
            raise LookupError(f"queue {self.queue_name!r} is not in the topology")
        self.url = url
        self.transport_options = {"polling_interval": 0.05, **dict(transport_options or {})}
        self.exchange_name = exchange_name
        self.subscriptions = subscriptions
        self.batch_size = batch_size
        self.prefetch = prefetch
        self.batch_wait = batch_wait
        self.sweep_interval = sweep_interval
        self._buffer: list[tuple[Envelope, Message]] = []
        self._flush_at = 0.0  # the batch goes to the database by then at the latest
        self._multiple_ack = False  # AMQP: one basic.ack(multiple=True) acknowledges a batch
        self.applied_batches = 0

    def _on_message(self, body, message: Message) -> None:
        try:
            envelope = Envelope.from_dict(body if isinstance(body, dict) else message.decode())
        except Exception as exc:
            # Not an envelope: nothing can ever apply it. Drop it loudly rather than loop on it.
            logger.error("inbox.malformed_message", consumer=self.queue_name, error=repr(exc))
            message.reject(requeue=False)
            return
        if not self._buffer:
            self._flush_at = time.monotonic() + self.batch_wait
        self._buffer.append((envelope, message))

    def _flush(self) -> None:
        batch, self._buffer = self._buffer, []
        try:
            self.processor.process([envelope for envelope, _ in batch])
        except Exception:
            logger.exception("inbox.batch_failed", consumer=self.queue_name, size=len(batch))
            for _, message in batch:
                message.requeue()
            close_old_connections()
            time.sleep(1.0)
            return
        if self._multiple_ack:
            # Deliveries come in tag order and every earlier one is settled already (acked with
            # its batch, rejected as malformed, or requeued): one frame acknowledges the batch.
            batch[-1][1].ack(multiple=True)
        else:
            for _, message in batch:
                message.ack()
        self.applied_batches += 1

    def run(
        self, *, stop: threading.Event | None = None, until: Callable[[], bool] | None = None
    ) -> None:
        stop = stop or threading.Event()
        failures = 0
        logger.info("inbox.worker_started", consumer=self.queue_name)
        while not stop.is_set() and not (until and until()):
            try:
                self._consume(stop, until)
                failures = 0
            except Exception as exc:  # broker gone, or a message kombu could not even decode
                failures += 1
                delay = backoff_delay(failures, base=0.4, cap=10.0)
                logger.warning(
                    "inbox.broker_unavailable",
                    consumer=self.queue_name,
                    error=repr(exc),
                    retry_in=round(delay, 3),
                )
                self._buffer.clear()  # unacknowledged: the broker redelivers them
                time.sleep(delay)
        logger.info("inbox.worker_stopped", consumer=self.queue_name)

    def _consume(self, stop: threading.Event, until: Callable[[], bool] | None) -> None:
        with broker_connection(self.url, self.transport_options) as connection:
            connection.ensure_connection(max_retries=1)
            channel = connection.channel()
            declare_topology(
                channel, exchange_name=self.exchange_name, subscriptions=self.subscriptions
            )
            queue = service_queue(
                self.queue_name,
                exchange=event_exchange(self.exchange_name),
                binding_keys=self.subscriptions[self.queue_name],
            )
            consumer = Consumer(
                channel,
                queues=[queue],
                callbacks=[self._on_message],
                accept=["json"],
                prefetch_count=self.prefetch,
            )
            self._multiple_ack = connection.transport.driver_type == "amqp"
            arriving = _arriving(connection)
            next_sweep = 0.0
            with consumer:
                while not stop.is_set() and not (until and until()):
                    if self._buffer:
                        if len(self._buffer) < self.batch_size and self._read_more(
                            connection, arriving
                        ):
                            continue
                        self._flush()
                    else:
                        with contextlib.suppress(TimeoutError):
                            connection.drain_events(timeout=0.2)
                        if self._buffer:
                            continue
                    if time.monotonic() >= next_sweep:
                        # Connection upkeep (max age, health check) once per sweep, not per batch:
                        # a health check costs a round trip; a failed batch closes it anyway.
                        close_old_connections()
                        self.processor.sweep()
                        next_sweep = time.monotonic() + self.sweep_interval
                if self._buffer:
                    self._flush()

    def _read_more(self, connection, arriving: Callable[[], bool] | None) -> bool:
        """Add the next delivery to the batch if one is there; False: the batch is complete.

        AMQP: only deliveries that have reached the socket go in. A live stream's events go to
        the database as they come, never held for a gap that might bring more; a backlog, or
        what arrived while the last batch was applied, fills the batch up to `batch_size`.
        Other transports cannot be asked: a gap of IDLE_GAP ends the batch, and from
        `batch_wait` after its first delivery on, only deliveries already received go in.
        """
        if arriving is not None:
            if not arriving():
                return False
            timeout = FRAME_WAIT
        else:
            remaining = self._flush_at - time.monotonic()
            timeout = min(remaining, IDLE_GAP) if remaining > 0 else RECEIVED_GAP
        try:
            connection.drain_events(timeout=timeout)
        except TimeoutError:
            return False
        return True


def _arriving(connection) -> Callable[[], bool] | None:
    """For py-amqp's transport: a check, without waiting, whether a frame has reached this
    client (bytes in the socket, in the transport's buffer, or decrypted in TLS's). Python's
    socket timeouts are whole milliseconds, so a timed read of "0.5 ms" to see whether more is
    coming held every batch back 1 ms. None for other transports."""
    if connection.transport.driver_type != "amqp":
        return None
    transport = connection.connection.transport
    sock = getattr(transport, "sock", None)
    if sock is None:
        return None
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    pending = getattr(sock, "pending", None)  # an SSLSocket's decrypted, unread bytes

    def arriving() -> bool:
        return bool(
            getattr(transport, "_read_buffer", b"")
            or (pending is not None and pending())
            or poller.poll(0)
        )

    return arriving


def worker_from_settings(consumer_name: str) -> InboxWorker:
    from servicekit.events.inbox.registry import get_consumer
    from servicekit.events.settings import events_settings

    config = events_settings()
    processor = InboxProcessor(
        get_consumer(consumer_name),
        max_attempts=config.INBOX_MAX_ATTEMPTS,
        backoff_base=config.INBOX_BACKOFF_BASE,
        gap_report_seconds=config.INBOX_GAP_REPORT_SECONDS,
    )
    return InboxWorker(
        processor,
        url=config.BROKER_URL,
        transport_options=config.TRANSPORT_OPTIONS,
        exchange_name=config.EXCHANGE,
        subscriptions=config.SUBSCRIPTIONS,
        batch_size=config.INBOX_BATCH_SIZE,
        prefetch=config.INBOX_PREFETCH,
    )
