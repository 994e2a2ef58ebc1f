"""The consumer worker: how deliveries are gathered into batches."""

from __future__ import annotations

import threading

from servicekit.events.broker.kombu import publisher_from_settings
from servicekit.events.inbox import worker as worker_module
from servicekit.events.inbox.worker import worker_from_settings
from tests.events import support
from tests.support.wait import wait_for


def test_a_backlog_fills_batches_after_the_batch_wait(tables, events_settings):
    # given: 250 events waiting in the queue before the worker starts, batches of up to 100, and
    # no time to wait for more after a batch's first delivery
    publisher = publisher_from_settings()
    try:
        publisher.publish([support.product_created(f"S{i}") for i in range(250)])
    finally:
        publisher.close()
    worker = worker_from_settings(support.test_consumer().name)
    worker.batch_size, worker.batch_wait = 100, 0.0
    sizes: list[int] = []
    process = worker.processor.process
    worker.processor.process = lambda envelopes: (sizes.append(len(envelopes)), process(envelopes))

    # when
    worker.run(until=lambda: sum(sizes) >= 250)

    # then: the deliveries already received went in together, up to the batch size (not one
    # batch per delivery once the wait was over)
    assert sum(sizes) == 250
    assert max(sizes) <= 100
    assert len(sizes) <= 5, sizes
    assert len(support.rows("SELECT event_id FROM test_applied_log")) == 250


def test_on_amqp_a_lone_delivery_is_applied_without_a_wait_for_more(
    tables, events_settings, rabbitmq_only, monkeypatch
):
    # given: a worker on RabbitMQ, every read it makes on its thread recorded with its timeout
    from kombu import Connection

    reads: list[float] = []
    drain = Connection.drain_events
    worker_thread = threading.current_thread()

    def recorded(self, **kwargs):
        if threading.current_thread() is worker_thread:
            reads.append(kwargs.get("timeout"))
        return drain(self, **kwargs)

    monkeypatch.setattr(Connection, "drain_events", recorded)
    worker = worker_from_settings(support.test_consumer().name)
    sizes: list[int] = []
    process = worker.processor.process
    worker.processor.process = lambda envelopes: (sizes.append(len(envelopes)), process(envelopes))

    # when: one event is published (from another thread) once the worker waits, nothing after
    def publish() -> None:
        publisher = publisher_from_settings()
        try:
            publisher.publish([support.product_created("LONE")])
        finally:
            publisher.close()

    producer = threading.Thread(target=publish)

    def applied() -> bool:
        if reads and producer.ident is None:
            producer.start()
        return bool(sizes)

    worker.run(until=applied)
    producer.join(10)

    # then: it was applied alone, and the worker read only to wait for deliveries (0.2 s) or
    # for the rest of a frame already arriving: no timed read to see whether more would come
    # (Python's socket timeouts are whole milliseconds: such a read held every batch back 1 ms)
    assert sizes == [1]
    assert set(reads) <= {0.2, worker_module.FRAME_WAIT}, reads


def test_the_amqp_check_sees_a_delivery_once_it_reached_the_socket(
    events_settings, rabbitmq_only, settings
):
    from kombu import Connection, Consumer

    from servicekit.events.broker.topology import declare_topology, event_exchange, service_queue

    events = events_settings
    name = support.queue_name_for(events)
    received: list[object] = []
    with Connection(settings.CELERY_BROKER_URL) as connection:
        channel = connection.channel()
        declare_topology(
            channel, exchange_name=events["EXCHANGE"], subscriptions=events["SUBSCRIPTIONS"]
        )
        queue = service_queue(
            name,
            exchange=event_exchange(events["EXCHANGE"]),
            binding_keys=events["SUBSCRIPTIONS"][name],
        )
        with Consumer(channel, queues=[queue], callbacks=[lambda body, m: received.append(m)]):
            arriving = worker_module._arriving(connection)
            assert arriving is not None
            connection.drain_events(timeout=0.2) if arriving() else None  # consume-ok
            # nothing published: nothing arriving
            assert not arriving()

            publisher = publisher_from_settings()
            try:
                publisher.publish([support.product_created("SEEN")])
            finally:
                publisher.close()
            wait_for(arriving, timeout=10, interval=0.01, what="the delivery to reach the socket")
            connection.drain_events(timeout=1)
            assert len(received) == 1
            # read: nothing arriving again
            assert not arriving()
            received[0].ack()
