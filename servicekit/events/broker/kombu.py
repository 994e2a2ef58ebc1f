"""The kombu publisher: envelopes to the topic exchange; on AMQP with batched publisher confirms."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence

import amqp
import structlog
from kombu import Connection, Producer

from servicekit.events.broker.base import BrokerUnavailable, PublishResult, SentBatch
from servicekit.events.broker.topology import broker_connection, declare_topology, event_exchange
from servicekit.events.envelope import Envelope

logger = structlog.get_logger("servicekit.broker")

CONTENT_TYPE = "application/json"


def message_headers(envelope: Envelope) -> dict[str, str]:
    return {
        "event_id": str(envelope.event_id),
        "event_type": envelope.event_type,
        "origin": envelope.origin,
        "correlation_id": envelope.correlation_id,
        "traceparent": envelope.traceparent,
        "tracestate": envelope.tracestate,
    }


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


def publisher_from_settings() -> KombuPublisher:
    from servicekit.events.settings import events_settings

    config = events_settings()
    return KombuPublisher(
        url=config.BROKER_URL,
        transport_options=config.TRANSPORT_OPTIONS,
        exchange_name=config.EXCHANGE,
        subscriptions=config.SUBSCRIPTIONS,
        confirm_timeout=config.RELAY_CONFIRM_TIMEOUT,
    )
