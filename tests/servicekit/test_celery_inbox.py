"""Event consumers hosted by the Celery worker apply each event once, in order, after commit."""

import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings

from contracts.orders import OrderCancelledV1, OrderConfirmedV1
from monolith.celery import app
from servicekit.events.broker.topology import (
    broker_connection,
    declare_topology,
    delete_topology,
    event_exchange,
)
from servicekit.events.inbox.models import InboxMessage
from servicekit.events.inbox.registry import EventConsumer
from tests.support.envelopes import envelope
from tests.support.wait import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_celery_worker_hosts_an_inbox_consumer(settings):
    tag = uuid.uuid4().hex[:8]
    name, exchange = f"test.celery.{tag}", f"test-events-{tag}"
    applied: list[tuple[str, int]] = []
    consumer = EventConsumer(name)
    consumer.on(OrderConfirmedV1)(lambda event, env: applied.append(("confirmed", event.order_id)))
    consumer.on(OrderCancelledV1)(lambda event, env: applied.append(("cancelled", event.order_id)))
    subscriptions = {name: ("orders.#",)}
    settings.SERVICEKIT_EVENTS = {"EXCHANGE": exchange, "SUBSCRIPTIONS": subscriptions}
    settings.SERVICEKIT_CELERY_INBOX_CONSUMERS = [name]
    confirmed = envelope(OrderConfirmedV1(order_id=7, customer_id=1), sequence=1)
    cancelled = envelope(OrderCancelledV1(order_id=7, customer_id=1, reason="x"), sequence=2)
    task_queue = f"monolith-test-{tag}"
    saved = (app.conf.task_always_eager, app.conf.task_default_queue)
    app.conf.task_always_eager, app.conf.task_default_queue = False, task_queue
    app.amqp.queues.select_add(task_queue)
    url = django_settings.CELERY_BROKER_URL
    options = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS
    try:
        with start_worker(
            app, pool="solo", perform_ping_check=False, queues=[task_queue], shutdown_timeout=30
        ):
            with broker_connection(url, options) as connection:
                channel = connection.channel()
                declare_topology(channel, exchange_name=exchange, subscriptions=subscriptions)
                producer = connection.Producer(channel)
                # out of order, and the first one twice: applied once each, in sequence order
                for message in (cancelled, confirmed, confirmed):
                    producer.publish(
                        message.to_dict(),
                        exchange=event_exchange(exchange),
                        routing_key=message.event_type,
                        serializer="json",
                    )
            wait_for(
                lambda: InboxMessage.objects.filter(consumer=name).count() >= 2,
                timeout=60,
                what="the worker to apply two events",
            )
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = saved
        if url.startswith("amqp"):
            with broker_connection(url, options) as connection:
                delete_topology(connection, exchange_name=exchange, subscriptions=subscriptions)
                connection.default_channel.queue_delete(task_queue)

    assert applied == [("confirmed", 7), ("cancelled", 7)]
    assert InboxMessage.objects.filter(consumer=name).count() == 2
