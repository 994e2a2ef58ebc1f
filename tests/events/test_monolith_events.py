"""The monolith's services emit their events, and notifications come from consuming order events."""

from __future__ import annotations

from decimal import Decimal

import pytest

from monolith.catalog import services as catalog
from monolith.notifications.consumers import consumer as notifications_consumer
from monolith.notifications.models import Notification
from monolith.orders import services as orders
from monolith.users import services as users
from servicekit.events.broker.stub import StubPublisher
from servicekit.events.inbox.models import InboxMessage
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.outbox.models import OutboxMessage
from servicekit.events.relay.relay import Relay

pytestmark = pytest.mark.django_db(transaction=True)


def test_monolith_changes_become_events_and_order_events_become_notifications(mailoutbox):
    # given: a customer, a product, an order placed, confirmed; another placed and cancelled
    customer = users.user_register(
        username="erin", email="erin@example.com", password="a-long-pass-phrase"
    )
    users.user_update_profile(user=customer, first_name="Erin")
    catalog.category_create(slug="kitchen", name="Kitchen")
    product = catalog.product_create(
        sku="EV-1", name="Kettle", category="kitchen", price=Decimal("20.00"), on_hand=5
    )
    product = catalog.product_update_price(product=product, new_price=Decimal("25.00"))
    line = [orders.OrderLineIn(sku="EV-1", quantity=1)]
    first, _ = orders.order_place(customer=customer, lines=line)
    orders.order_confirm(order=first)
    second, _ = orders.order_place(customer=customer, lines=line)
    orders.order_cancel(order=second, reason="changed my mind")

    emitted = {
        t.rsplit(".", 1)[0] for t in OutboxMessage.objects.values_list("event_type", flat=True)
    }
    assert {
        "users.user_created",
        "users.user_updated",
        "catalog.product_created",
        "catalog.product_price_changed",
        "catalog.stock_changed",
        "orders.order_placed",
        "orders.order_confirmed",
        "orders.order_cancelled",
    } <= emitted

    # when: the relay publishes and the notifications consumer applies (twice: a redelivery)
    Notification.objects.all().delete()  # whatever the Celery path made: the inbox must make them
    mailoutbox.clear()
    stub = StubPublisher()
    relay = Relay(publisher=stub)
    while relay.run_once():
        pass
    order_events = [e for e in stub.published if e.aggregate_type == "order"]
    processor = InboxProcessor(notifications_consumer)
    processor.process(order_events)
    processor.process(order_events)

    # then: one notification per order event, each emailed once
    kinds = sorted(Notification.objects.values_list("order_id", "kind"))
    assert kinds == sorted(
        [
            (first.pk, "order_placed"),
            (first.pk, "order_confirmed"),
            (second.pk, "order_placed"),
            (second.pk, "order_cancelled"),
        ]
    )
    assert len(mailoutbox) == 4
    assert InboxMessage.objects.filter(consumer="monolith.notifications").count() == 4
