"""Kombu topology (one topic exchange, one durable queue per consuming service) and publishers.

The topology is data (`SERVICEKIT_EVENTS["SUBSCRIPTIONS"]`, by default `contracts.topology`) and
every process declares all of it before it publishes or consumes: on RabbitMQ that makes a queue
exist before its first event; on kombu's filesystem transport, whose topic bindings live only in
the declaring process's memory, it lets the relay route into the consumers' queue files.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import amqp
import structlog
from kombu import Connection, Exchange, Producer, Queue, binding
from kombu.exceptions import ChannelError
from kombu.transport import filesystem

from contracts.envelope import Envelope

logger = structlog.get_logger("servicekit.broker")

CONTENT_TYPE = "application/json"


class _AtomicFilesystemChannel(filesystem.Channel):
    """Writes each message under a hidden name, then renames it into the queue folder.

    The stock channel writes the final file in place, so a reader can pick up a half-written
    message (or a relay killed mid-write leaves a truncated one that crashes the consumer).
    """

    def _put(self, queue, payload, **kwargs):
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        folder = self.data_folder_out
        temporary = os.path.join(folder, f"~{uuid.uuid4().hex}")  # never matches `*.<queue>.msg`
        try:
            with open(temporary, "wb") as handle:
                handle.write(json.dumps(payload).encode())
            os.replace(temporary, os.path.join(folder, name))
        except OSError as exc:
            raise ChannelError(f"Cannot add message for {queue!r} to {folder!r}") from exc


class AtomicFilesystemTransport(filesystem.Transport):
    Channel = _AtomicFilesystemChannel


def broker_connection(url: str, transport_options: Mapping | None = None) -> Connection:
    """A kombu connection; kombu's filesystem transport gets atomic message files."""
    options = dict(transport_options or {})
    if url.startswith("filesystem"):
        return Connection(url, transport=AtomicFilesystemTransport, transport_options=options)
    return Connection(url, transport_options=options)


def event_exchange(name: str) -> Exchange:
    return Exchange(name, type="topic", durable=True, auto_delete=False, delivery_mode=2)


def service_queue(name: str, *, exchange: Exchange, binding_keys: Sequence[str]) -> Queue:
    return Queue(
        name,
        exchange=exchange,
        bindings=[binding(exchange, routing_key=key) for key in binding_keys],
        durable=True,
        auto_delete=False,
    )


def declare_topology(
    channel, *, exchange_name: str, subscriptions: Mapping[str, Sequence[str]]
) -> list[Queue]:
    """Declare the exchange and every subscriber queue with its bindings (idempotent)."""
    exchange = event_exchange(exchange_name)
    exchange(channel).declare()
    queues = []
    for queue_name, keys in subscriptions.items():
        queue = service_queue(queue_name, exchange=exchange, binding_keys=keys)(channel)
        queue.declare()
        queues.append(queue)
    return queues


def delete_topology(
    connection: Connection, *, exchange_name: str, subscriptions: Mapping[str, Sequence[str]]
) -> None:
    """Tests and benchmarks clean up their uniquely named exchange and queues with this."""
    channel = connection.channel()
    try:
        for queue_name in subscriptions:
            Queue(queue_name, channel=channel).delete()
        event_exchange(exchange_name)(channel).delete()
    finally:
        channel.close()


def message_headers(envelope: Envelope) -> dict[str, str]:
    return {
        "event_id": str(envelope.event_id),
        "event_type": envelope.event_type,
        "origin": envelope.origin,
        "correlation_id": envelope.correlation_id,
        "traceparent": envelope.traceparent,
        "tracestate": envelope.tracestate,
    }


class BrokerUnavailable(ConnectionError):
    """The broker could not be reached or dropped the connection: nothing is the events' fault."""


@dataclass
class PublishResult:
    confirmed: list[uuid.UUID] = field(default_factory=list)
    failed: dict[uuid.UUID, str] = field(default_factory=dict)  # the broker refused these


@dataclass
class SentBatch:
    """A batch written to the broker whose confirms may still be on their way (`confirm`)."""

    tags: list[tuple[int, Envelope]] = field(default_factory=list)
    result: PublishResult = field(default_factory=PublishResult)  # failures found while sending
    generation: int = 0  # the connection it went out on


class Publisher(Protocol):
    def publish(self, envelopes: Sequence[Envelope]) -> PublishResult:
        """Publish in order and wait for the broker's confirms.

        Raises `BrokerUnavailable` when the connection fails; envelopes absent from both lists
        of the result were not confirmed and must be retried without blame. After an event
        fails, the later events of its aggregate in the batch are not published. (A broker nack
        arrives after later events went out: then the consumer's inbox restores the order.)
        """

    def close(self) -> None: ...


class PipelinedPublisher(Publisher, Protocol):
    """`publish` in two halves, so that the relay can claim and send the next batch while the
    broker confirms this one: `publish(batch) == confirm(send(batch))`."""

    def send(self, envelopes: Sequence[Envelope]) -> SentBatch: ...

    def confirm(self, sent: SentBatch) -> PublishResult: ...


class KombuPublisher:
    """Publishes envelopes to the topic exchange; on AMQP with batched publisher confirms.

    A batch is written to the socket, then the confirms (one `basic.ack` may cover several
    delivery tags) are awaited together, so a confirm costs one round trip per batch.
    """

    def __init__(
        self,
        *,
        url: str,
        transport_options: Mapping | None,
        exchange_name: str,
        subscriptions: Mapping[str, Sequence[str]],
        confirm_timeout: float = 10.0,
    ):
        self.url = url
        self.transport_options = dict(transport_options or {})
        self.exchange_name = exchange_name
        self.subscriptions = subscriptions
        self.confirm_timeout = confirm_timeout
        self._connection: Connection | None = None
        self._channel = None
        self._producer: Producer | None = None
        self._uses_confirms = False
        self._next_tag = 1
        self._acked_upto = 0  # every tag <= this is acked (multiple acks)
        self._acked: set[int] = set()
        self._nacked: set[int] = set()
        self._generation = 0  # counts connections: a batch's confirms die with its connection

    # connection -----------------------------------------------------------------------------
    def _connect(self) -> None:
        connection = broker_connection(self.url, self.transport_options)
        try:
            connection.ensure_connection(max_retries=1)
            channel = connection.channel()
            declare_topology(
                channel, exchange_name=self.exchange_name, subscriptions=self.subscriptions
            )
            self._uses_confirms = connection.transport.driver_type == "amqp"
            if self._uses_confirms:
                channel.confirm_select()
                channel.events["basic_ack"].add(self._on_ack)
                channel.events["basic_nack"].add(self._on_nack)
        except Exception as exc:
            connection.release()
            raise BrokerUnavailable(f"cannot connect to the broker: {exc!r}") from exc
        self._connection, self._channel = connection, channel
        self._producer = Producer(channel, exchange=event_exchange(self.exchange_name))
        self._next_tag, self._acked_upto = 1, 0
        self._acked.clear()
        self._nacked.clear()
        self._generation += 1
        logger.info("broker.publisher_connected", transport=connection.transport.driver_type)

    def close(self) -> None:
        if self._connection is not None:
            # Closing a dead connection may fail; there is nothing left to do then.
            with contextlib.suppress(Exception):
                self._connection.release()
        self._connection = self._channel = self._producer = None

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._acked_upto = max(self._acked_upto, delivery_tag)
        else:
            self._acked.add(delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._nacked.update(range(self._acked_upto + 1, delivery_tag + 1))
            self._acked_upto = max(self._acked_upto, delivery_tag)
        else:
            self._nacked.add(delivery_tag)

    def _resolved(self, tag: int) -> bool:
        return tag in self._nacked or tag in self._acked or tag <= self._acked_upto

    # publishing -----------------------------------------------------------------------------
    def publish(self, envelopes: Sequence[Envelope]) -> PublishResult:
        return self.confirm(self.send(envelopes))

    def send(self, envelopes: Sequence[Envelope]) -> SentBatch:
        """Write the batch to the broker (on AMQP: one socket write); do not wait for confirms."""
        if self._connection is None:
            self._connect()
        assert self._connection is not None and self._producer is not None
        sent = SentBatch(generation=self._generation)
        blocked: set[tuple[str, str]] = set()  # an aggregate whose event failed: stop there
        send = self._publish_amqp if self._uses_confirms else self._publish_kombu
        writes = self._coalesce_writes()
        try:
            for envelope in envelopes:
                if envelope.aggregate_key in blocked:
                    continue
                try:
                    body = envelope.to_json()
                except (TypeError, ValueError) as exc:
                    sent.result.failed[envelope.event_id] = f"cannot encode: {exc!r}"
                    blocked.add(envelope.aggregate_key)
                    continue
                send(body, envelope)
                sent.tags.append((self._next_tag, envelope))
                self._next_tag += 1
            if writes is not None:
                writes.flush()
        except self._errors() as exc:
            self.close()
            raise BrokerUnavailable(f"publish failed: {exc!r}") from exc
        except BaseException:
            self.close()  # delivery tags no longer match what the broker received
            raise
        finally:
            if writes is not None:
                writes.restore()  # after an error: nothing of the batch was written
        return sent

    def confirm(self, sent: SentBatch) -> PublishResult:
        """Wait for the broker's confirms of a batch from `send`."""
        result = sent.result
        if self._uses_confirms and sent.tags:
            if self._connection is None or sent.generation != self._generation:
                raise BrokerUnavailable("the connection that sent the batch is gone")
            try:
                self._wait_for_confirms([tag for tag, _ in sent.tags])
            except self._errors() as exc:
                self.close()
                raise BrokerUnavailable(f"publish failed: {exc!r}") from exc
            except BaseException:
                self.close()
                raise
        for tag, envelope in sent.tags:
            if self._uses_confirms and tag in self._nacked:
                result.failed[envelope.event_id] = "nacked by the broker"
            else:
                result.confirmed.append(envelope.event_id)
            self._acked.discard(tag)
            self._nacked.discard(tag)
        return result

    def _errors(self) -> tuple[type[BaseException], ...]:
        connection = self._connection
        if connection is None:
            return (OSError,)
        return (*connection.connection_errors, *connection.channel_errors, OSError)

    def _publish_kombu(self, body: str, envelope: Envelope) -> None:
        assert self._producer is not None
        self._producer.publish(
            body,
            routing_key=envelope.event_type,
            content_type=CONTENT_TYPE,
            content_encoding="utf-8",
            delivery_mode=2,
            message_id=str(envelope.event_id),
            headers=message_headers(envelope),
            retry=False,
        )

    def _publish_amqp(self, body: str, envelope: Envelope) -> None:
        """The same message as `_publish_kombu`, straight to py-amqp's channel (no kombu layer)."""
        self._channel.basic_publish(
            amqp.Message(
                body.encode(),
                content_type=CONTENT_TYPE,
                content_encoding="utf-8",
                delivery_mode=2,
                message_id=str(envelope.event_id),
                application_headers=message_headers(envelope),
            ),
            exchange=self.exchange_name,
            routing_key=envelope.event_type,
        )

    def _coalesce_writes(self) -> _CoalescedWrites | None:
        """On AMQP, collect a batch's frames and send them with one socket write."""
        if not self._uses_confirms:
            return None
        transport = getattr(getattr(self._connection, "connection", None), "transport", None)
        if transport is None or not callable(getattr(transport, "_write", None)):
            return None
        return _CoalescedWrites(transport)

    def _wait_for_confirms(self, tags: list[int]) -> None:
        assert self._connection is not None
        deadline = time.monotonic() + self.confirm_timeout
        pending = [tag for tag in tags if not self._resolved(tag)]
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OSError(f"no publisher confirm within {self.confirm_timeout}s")
            try:
                self._connection.drain_events(timeout=remaining)
            except TimeoutError:
                continue
            pending = [tag for tag in pending if not self._resolved(tag)]


class _CoalescedWrites:
    """Buffers what py-amqp writes to its socket until `flush`; `restore` drops it (after an
    error the connection is closed and the batch retried)."""

    def __init__(self, transport):
        self._transport = transport
        self._write = transport._write
        self._chunks: list[bytes] = []
        transport._write = self._buffer  # py-amqp copies nothing: its frame buffer is reused

    def _buffer(self, data) -> None:
        self._chunks.append(bytes(data))

    def restore(self) -> None:
        self._transport._write = self._write
        self._chunks = []

    def flush(self) -> None:
        data = b"".join(self._chunks)
        self.restore()
        if data:
            self._write(data)


class StubPublisher:
    """In-memory publisher for tests (like dramatiq's StubBroker): records, fails on demand."""

    def __init__(self, *, fail_event_ids: set[uuid.UUID] | None = None, down: bool = False):
        self.published: list[Envelope] = []
        self.fail_event_ids = set(fail_event_ids or ())
        self.down = down

    def send(self, envelopes: Sequence[Envelope]) -> SentBatch:
        return SentBatch(result=self.publish(envelopes))

    def confirm(self, sent: SentBatch) -> PublishResult:
        return sent.result

    def publish(self, envelopes: Sequence[Envelope]) -> PublishResult:
        if self.down:
            raise BrokerUnavailable("stub broker is down")
        result = PublishResult()
        blocked: set[tuple[str, str]] = set()
        for envelope in envelopes:
            if envelope.aggregate_key in blocked:
                continue
            if envelope.event_id in self.fail_event_ids:
                result.failed[envelope.event_id] = "stub refused this event"
                blocked.add(envelope.aggregate_key)
            else:
                self.published.append(envelope)
                result.confirmed.append(envelope.event_id)
        return result

    def close(self) -> None:
        return None


def publisher_from_settings() -> KombuPublisher:
    from servicekit.events_settings import events_settings

    config = events_settings()
    return KombuPublisher(
        url=config.BROKER_URL,
        transport_options=config.TRANSPORT_OPTIONS,
        exchange_name=config.EXCHANGE,
        subscriptions=config.SUBSCRIPTIONS,
        confirm_timeout=config.RELAY_CONFIRM_TIMEOUT,
    )
