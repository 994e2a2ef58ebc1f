"""The service makes notifications from order events: once per (user, kind, order), in order."""

import pytest

from extracted.notifications.notifications.models import Notification
from servicekit.events.outbox.models import OutboxMessage
from tests.extracted.notifications.builders import (
    CUSTOMER,
    order_cancelled,
    order_confirmed,
    order_placed,
    user_created,
    user_updated,
)
from tests.support.envelopes import envelope

pytestmark = pytest.mark.django_db


def test_order_events_make_each_notification_once_whatever_the_delivery_order(inbox, mailoutbox):
    placed = envelope(order_placed(7), sequence=1)
    confirmed = envelope(order_confirmed(7), sequence=2)
    cancelled = envelope(order_cancelled(7), sequence=3)

    inbox.process([cancelled, confirmed])  # early: they wait for #1
    assert not Notification.objects.exists()
    inbox.process([placed, confirmed])  # the missing event, and a duplicate
    inbox.process([cancelled])  # redelivered

    made = {n.kind: n for n in Notification.objects.filter(user_id=CUSTOMER, order_id=7)}
    assert sorted(made) == ["order_cancelled", "order_confirmed", "order_placed"]
    # the monolith's words, exactly
    assert (made["order_placed"].title, made["order_placed"].body) == (
        "Order 7 placed",
        "We received your order 7 (3.00 EUR).",
    )
    assert made["order_confirmed"].body == "Your order 7 is confirmed."
    assert made["order_cancelled"].body == "Your order 7 was cancelled: out of coffee."


def test_while_the_monolith_owns_them_the_copy_is_built_silently(
    inbox, mailoutbox, django_capture_on_commit_callbacks
):
    inbox.process([envelope(user_created())])
    with django_capture_on_commit_callbacks(execute=True):
        inbox.process([envelope(order_placed(8))])

    notification = Notification.objects.get(order_id=8)
    assert not notification.email_due and notification.emailed_at is None
    assert mailoutbox == []
    assert not OutboxMessage.objects.exists()  # the monolith publishes; this copy is silent


def test_as_the_owner_it_publishes_and_emails_once(
    inbox, mailoutbox, service_owns, django_capture_on_commit_callbacks
):
    inbox.process([envelope(user_created())])
    placed = envelope(order_placed(9))
    with django_capture_on_commit_callbacks(execute=True):
        inbox.process([placed])
    with django_capture_on_commit_callbacks(execute=True):
        inbox.process([placed])  # redelivered

    assert [(m.subject, m.to) for m in mailoutbox] == [("Order 9 placed", ["carol@example.com"])]
    assert Notification.objects.get(order_id=9).emailed_at is not None
    published = OutboxMessage.objects.get()
    assert (published.event_type, published.aggregate_id, published.origin) == (
        "notifications.notification_created.v1",
        f"{CUSTOMER}:order_placed:9",
        "notifications",
    )
    assert published.payload["title"] == "Order 9 placed"


def test_an_email_waits_for_the_users_address_then_leaves_once(
    inbox, mailoutbox, service_owns, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        inbox.process([envelope(order_placed(10))])
    assert mailoutbox == []  # who is user 2? not known yet

    with django_capture_on_commit_callbacks(execute=True):
        inbox.process([envelope(user_created())])
    with django_capture_on_commit_callbacks(execute=True):
        inbox.process([envelope(user_updated(email="new@example.com"))])

    assert [m.to for m in mailoutbox] == [["carol@example.com"]]
