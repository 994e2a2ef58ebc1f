"""The consumer worker: how deliveries are gathered into batches."""

from __future__ import annotations

from servicekit.events.broker.kombu import publisher_from_settings
from servicekit.events.inbox.worker import worker_from_settings
from tests.events import support


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
