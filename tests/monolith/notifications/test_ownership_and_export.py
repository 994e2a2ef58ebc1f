"""Notifications replicated with the notifications service: the owner makes, emails and marks
them read (publishing each change); the monolith mirrors the service's events once it owns
them; staff export every notification for the service's backfill."""

from datetime import datetime

import pytest

from monolith.notifications import services
from monolith.notifications.models import Notification
from servicekit.events.outbox.models import OutboxMessage
from servicekit.migration.ownership import ownership_set
from tests.monolith.factories import UserFactory
from tests.monolith.notifications.support import notify_order_event, service_created
from tests.support.shapes import assert_problem

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def ownership_file(settings, tmp_path):
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")


def _published():
    return list(
        OutboxMessage.objects.filter(aggregate_type="notification")
        .order_by("id")
        .values_list("event_type", "aggregate_id", "sequence")
    )


def test_the_owning_monolith_makes_emails_and_publishes(customer, mailoutbox):
    notification_id = notify_order_event(user_id=customer.pk, kind="order_placed", order_id=5)

    assert Notification.objects.get(pk=notification_id).title == "Order 5 placed"
    assert len(mailoutbox) == 1
    assert _published() == [
        ("notifications.notification_created.v1", f"{customer.pk}:order_placed:5", 1)
    ]


def test_once_the_service_owns_them_the_monolith_keeps_silent_pending_copies(customer, mailoutbox):
    ownership_set("notification", "notifications")
    assert notify_order_event(user_id=customer.pk, kind="order_placed", order_id=5) is None
    assert (
        services.notification_for_order_event(
            user_id=customer.pk, kind="order_confirmed", order_id=5
        )
        is None
    )
    copies = Notification.objects.order_by("order_id", "kind")
    assert [(n.kind, n.pending) for n in copies] == [
        ("order_confirmed", True),
        ("order_placed", True),
    ]
    assert not mailoutbox and not _published()

    # flipped back: the monolith makes and emails new ones again
    ownership_set("notification", "monolith")
    assert notify_order_event(user_id=customer.pk, kind="order_confirmed", order_id=6)
    assert [m.subject for m in mailoutbox] == ["Order 6 confirmed"]


def test_the_services_event_makes_a_pending_copy_its_own_row(customer, mailoutbox):
    ownership_set("notification", "notifications")
    services.notification_for_order_event(user_id=customer.pk, kind="order_placed", order_id=5)

    services.notification_apply_created(service_created(user_id=customer.pk, order_id=5))

    copy = Notification.objects.get()
    assert not copy.pending and copy.body == "the service's text"
    assert not mailoutbox and not _published()


def test_a_repeated_order_event_for_a_mirrored_notification_emails_nothing(customer, mailoutbox):
    # the service made and emailed it; the monolith meets the order event only once it owns
    # notifications again
    services.notification_apply_created(service_created(user_id=customer.pk, order_id=5))
    assert notify_order_event(user_id=customer.pk, kind="order_placed", order_id=5) is None
    assert not mailoutbox and not _published()


def test_a_copy_made_while_not_owning_is_never_emailed(customer, mailoutbox):
    notification, _ = services.notification_for_order(
        user_id=customer.pk, kind="order_placed", order_id=6
    )
    ownership_set("notification", "notifications")
    assert services.notification_email(notification_id=notification.pk) is False
    assert not mailoutbox


def test_mark_read_is_refused_while_the_service_owns_notifications(customer_client, customer):
    first = notify_order_event(user_id=customer.pk, kind="order_placed", order_id=1)
    ownership_set("notification", "notifications")

    body = assert_problem(
        customer_client.post(f"/api/v1/notifications/{first}/read/"), 503, "owner_moving"
    )
    assert body["owner"] == "notifications"
    assert_problem(customer_client.post("/api/v1/notifications/read-all/"), 503, "owner_moving")
    assert Notification.objects.get(pk=first).read_at is None
    # reads still answer
    assert customer_client.get("/api/v1/notifications/").json()["count"] == 1


def test_the_owner_publishes_read_state(customer_client, customer):
    first = notify_order_event(user_id=customer.pk, kind="order_placed", order_id=1)
    notify_order_event(user_id=customer.pk, kind="order_placed", order_id=2)

    customer_client.post(f"/api/v1/notifications/{first}/read/")
    customer_client.post(f"/api/v1/notifications/{first}/read/")  # already read: no event
    assert customer_client.post("/api/v1/notifications/read-all/").json() == {"marked_read": 1}

    reads = [row for row in _published() if row[0] == "notifications.notification_read.v1"]
    assert reads == [
        ("notifications.notification_read.v1", f"{customer.pk}:order_placed:1", 2),
        ("notifications.notification_read.v1", f"{customer.pk}:order_placed:2", 2),
    ]
    payload = OutboxMessage.objects.filter(event_type__endswith="read.v1").first().payload
    read_at = Notification.objects.get(pk=first).read_at
    assert datetime.fromisoformat(payload["read_at"]) == read_at


def test_export_is_staff_only(customer_client):
    assert_problem(customer_client.get("/api/v1/notifications/export/"), 403, "permission_denied")


def test_export_pages_every_users_notifications_with_read_state_and_sequence(
    staff_client, customer_client, customer
):
    other = UserFactory(username="olga", email="olga@example.com")
    first = notify_order_event(user_id=customer.pk, kind="order_placed", order_id=1)
    notify_order_event(user_id=other.pk, kind="order_placed", order_id=2)
    notify_order_event(user_id=customer.pk, kind="order_cancelled", order_id=1, reason="x")
    customer_client.post(f"/api/v1/notifications/{first}/read/")

    page = staff_client.get("/api/v1/notifications/export/", {"limit": 2}).json()
    rest = staff_client.get(
        "/api/v1/notifications/export/", {"after": page["next_after"], "limit": 2}
    ).json()

    rows = page["notifications"] + rest["notifications"]
    assert rest["next_after"] is None
    assert [(r["user_id"], r["kind"], r["order_id"]) for r in rows] == [
        (customer.pk, "order_placed", 1),
        (other.pk, "order_placed", 2),
        (customer.pk, "order_cancelled", 1),
    ]
    head = rows[0]
    assert (head["username"], head["email"]) == (customer.username, customer.email)
    assert head["title"] == "Order 1 placed" and head["read_at"] and head["created_at"]
    assert [r["sequence"] for r in rows] == [2, 1, 1]  # created (+ read for the first)
    assert set(head) == {
        "id",
        "user_id",
        "username",
        "email",
        "kind",
        "order_id",
        "title",
        "body",
        "read_at",
        "created_at",
        "sequence",
    }
