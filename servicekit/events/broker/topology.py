"""Kombu topology (one topic exchange, one durable queue per consuming service) and connections.

The topology is data (`SERVICEKIT_EVENTS["SUBSCRIPTIONS"]`; the shop's is `contracts.topology`) and
every process declares all of it before it publishes or consumes: on RabbitMQ that makes a queue
exist before its first event; on kombu's filesystem transport, whose topic bindings live only in
the declaring process's memory, it lets the relay route into the consumers' queue files.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence

from kombu import Connection, Exchange, Queue, binding
from kombu.exceptions import ChannelError
from kombu.transport import filesystem


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


# Celery's worker loop on a transport without an event loop (this one) asks drain_events for 2 s
# and looks for a stop request only between calls: a wait capped at this, a SIGTERM stops the
# worker that much sooner (`make run`'s stop, a container's). A shorter wait only means "nothing
# arrived yet", which every caller loops on.
DRAIN_SLICE = 0.25


class AtomicFilesystemTransport(filesystem.Transport):
    Channel = _AtomicFilesystemChannel

    def drain_events(self, connection, timeout=None):
        if timeout is not None:
            timeout = min(timeout, DRAIN_SLICE)
        return super().drain_events(connection, timeout=timeout)


def broker_connection(url: str, transport_options: Mapping | None = None, **kwargs) -> Connection:
    """A kombu connection; kombu's filesystem transport gets atomic message files, an `amqps://`
    URL a verified TLS connection (servicekit.web.tls.stores)."""
    from servicekit.web.tls.stores import amqp_ssl

    options = dict(transport_options or {})
    if url.startswith("filesystem"):
        return Connection(
            url, transport=AtomicFilesystemTransport, transport_options=options, **kwargs
        )
    tls = amqp_ssl(url, store="RabbitMQ (the events broker)")
    if tls is not None:
        kwargs["ssl"] = tls
    return Connection(url, transport_options=options, **kwargs)


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
    """Tests and benchmarks clean up their uniquely named exchange and queues with this.

    On kombu's filesystem transport each queue is purged first: deleting a queue there purges
    it only through the bindings the calling process declared, and messages left in its folder
    (duplicates a restarted relay sent after the consumer stopped) would reach the next
    consumer of a queue of that name."""
    purge_first = connection.transport.driver_type != "amqp"  # RabbitMQ drops them itself
    channel = connection.channel()
    try:
        for queue_name in subscriptions:
            queue = Queue(queue_name, channel=channel)
            if purge_first:
                queue.purge()
            queue.delete()
        event_exchange(exchange_name)(channel).delete()
    finally:
        channel.close()
