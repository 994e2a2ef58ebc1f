"""Ownership of notifications, both ways: only the owner marks them read (and publishes it);
the other side mirrors that, so flipping back and forth keeps read state equal."""

from datetime import UTC, datetime

import pytest

from contracts.notifications import NotificationCreatedV1, NotificationReadV1
from extracted.notifications.notifications.models import Notification
from servicekit.events.outbox.models import OutboxMessage
from servicekit.migration.ownership import ownership_set
from tests.extracted.notifications.builders import CUSTOMER, order_placed, user_created
from tests.support.envelopes import envelope
from tests.support.shapes import assert_problem

pytestmark = pytest.mark.django_db

KEY = {"user_id": CUSTOMER, "kind": "order_placed", "order_id": 3}
MADE_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def monolith_created(**key):
    key = {**KEY, **key}
    return NotificationCreatedV1(
        **key,
        title=f"Order {key['order_id']} placed",
        body=f"We received your order {key['order_id']} (3.00 EUR).",
        created_at=MADE_AT.isoformat(),
    )


def _reads():
    return list(
        OutboxMessage.objects.filter(event_type="notifications.notification_read.v1")
        .order_by("id")
        .values_list("aggregate_id", "sequence", "origin")
    )


def test_mark_read_is_refused_while_the_monolith_owns_notifications(inbox, customer_client):
    inbox.process([envelope(order_placed(3))])
    notification = Notification.objects.get()

    response = customer_client.post(f"/api/v1/notifications/{notification.pk}/read/")
    assert assert_problem(response, 503, "owner_moving")["owner"] == "monolith"
    assert customer_client.post("/api/v1/notifications/read-all/").status_code == 503
    assert Notification.objects.get().read_at is None and not _reads()


def test_the_monolith_s_notifications_and_read_state_are_mirrored(inbox, mailoutbox):
    # given: the service made its silent copy from the order; the monolith's events follow
    inbox.process([envelope(order_placed(3))])
    read = NotificationReadV1(**KEY, read_at="2026-03-02T08:00:00+00:00")

    inbox.process([envelope(read, sequence=2)])  # early: waits for the created event
    assert Notification.objects.get().read_at is None
    inbox.process([envelope(monolith_created(), sequence=1)])
    inbox.process([envelope(read, sequence=2)])  # redelivered

    notification = Notification.objects.get()
    assert notification.created_at == MADE_AT  # the monolith's time: both sides list alike
    assert notification.read_at == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert not notification.email_due and not mailoutbox
    assert not OutboxMessage.objects.exists()  # mirrored, never re-emitted


def test_flipping_back_and_forth_keeps_read_state_equal(inbox, customer_client, mailoutbox):
    # phase 1: the monolith owns; the copy is warm (created #1, mirrored)
    inbox.process([envelope(user_created())])
    inbox.process([envelope(monolith_created(), sequence=1)])
    inbox.process([envelope(monolith_created(order_id=4), sequence=1)])
    first, second = Notification.objects.order_by("order_id")

    # flip: the service owns and marks read; its events continue each notification's stream
    ownership_set("notification", "notifications")
    read = customer_client.post(f"/api/v1/notifications/{first.pk}/read/")
    assert read.status_code == 200 and read.json()["is_read"] is True
    assert _reads() == [(f"{CUSTOMER}:order_placed:3", 2, "notifications")]
    # its own event coming back changes nothing
    inbox.process(
        [
            envelope(
                NotificationReadV1(**KEY, read_at="2030-01-01T00:00:00+00:00"),
                origin="notifications",
                sequence=2,
            )
        ]
    )
    assert Notification.objects.get(pk=first.pk).read_at.year != 2030

    # flip back: the service refuses, and mirrors the monolith's read of the second one
    ownership_set("notification", "monolith")
    assert customer_client.post("/api/v1/notifications/read-all/").status_code == 503
    second_read = NotificationReadV1(**{**KEY, "order_id": 4}, read_at="2026-03-05T09:00:00+00:00")
    inbox.process([envelope(second_read, sequence=2)])

    listed = customer_client.get("/api/v1/notifications/").json()["results"]
    assert [n["is_read"] for n in listed] == [True, True]
    assert Notification.objects.get(pk=second.pk).read_at == datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    assert not mailoutbox  # none of these was the service's to email


def test_the_owner_marks_all_read_once_each(inbox, customer_client, service_owns):
    inbox.process([envelope(order_placed(3)), envelope(order_placed(4))])

    assert customer_client.post("/api/v1/notifications/read-all/").json() == {"marked_read": 2}
    assert customer_client.post("/api/v1/notifications/read-all/").json() == {"marked_read": 0}

    assert sorted(_reads()) == [
        (f"{CUSTOMER}:order_placed:3", 2, "notifications"),
        (f"{CUSTOMER}:order_placed:4", 2, "notifications"),
    ]
