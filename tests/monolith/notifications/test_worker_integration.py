"""From a request to an email: the order event reaches the notifications consumer, whose Celery
task travels through the real broker to a real worker, carrying the request's id all the way."""

import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import before_task_publish
from django.conf import settings

from monolith.celery import app
from monolith.notifications.models import Notification
from tests.monolith.factories import ProductFactory
from tests.support.events import deliver
from tests.support.wait import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker():
    queue = f"monolith-test-{uuid.uuid4().hex[:8]}"
    saved = (app.conf.task_always_eager, app.conf.task_default_queue)
    app.conf.task_always_eager = False
    app.conf.task_default_queue = queue
    app.amqp.queues.select_add(queue)
    try:
        with start_worker(
            app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=30
        ):
            yield queue
    finally:
        app.conf.task_always_eager, app.conf.task_default_queue = saved
        if settings.CELERY_BROKER_URL.startswith("amqp"):
            with app.connection_for_write() as conn:
                conn.default_channel.queue_delete(queue)


def test_order_notification_is_emailed_by_the_worker(worker, customer_client, customer):
    product = ProductFactory(inventory__on_hand=3)
    published: list[dict] = []

    def remember(headers=None, **_kwargs):
        published.append(headers or {})

    response = customer_client.post(
        "/api/v1/orders/",
        {"lines": [{"sku": product.sku, "quantity": 1}]},
        format="json",
        HTTP_X_REQUEST_ID="order-req-42",
    )
    assert response.status_code == 201
    before_task_publish.connect(remember, weak=False)
    try:
        assert deliver("monolith.notifications") >= 1  # the order event, as the relay would
    finally:
        before_task_publish.disconnect(remember)

    notification = Notification.objects.get(user=customer)
    assert (notification.order_id, notification.kind) == (response.json()["id"], "order_placed")
    wait_for(
        lambda: Notification.objects.get(pk=notification.pk).emailed_at is not None,
        timeout=60,
        what="the worker to send the email",
    )
    # request -> outbox -> inbox -> Celery task: one correlation id all the way
    ids = [h.get("__django_structlog__", {}).get("request_id") for h in published]
    assert ids == ["order-req-42"]
