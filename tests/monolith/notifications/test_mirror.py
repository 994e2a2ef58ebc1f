"""Once the notifications service owns notifications, the monolith mirrors its events, so the
storefront and the monolith's API keep listing every notification with its read state."""

from datetime import UTC, datetime

import pytest

from contracts.notifications import NotificationCreatedV1, NotificationReadV1
from contracts.orders import OrderCancelledV1, OrderConfirmedV1
from monolith.notifications.models import Notification
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import get_consumer
from servicekit.events.outbox.models import OutboxMessage
from servicekit.migration.ownership import ownership_set
from tests.monolith.notifications.support import notify_order_event, service_created
from tests.support.envelopes import envelope, sequences_reset

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def ownership_file(settings, tmp_path):
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")
    sequences_reset()


def test_the_monolith_mirrors_the_owning_services_notifications(customer, mailoutbox):
    ownership_set("notification", "notifications")
    inbox = InboxProcessor(get_consumer("monolith.notifications"))
    made_at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    key = {"user_id": customer.pk, "kind": "order_placed", "order_id": 4}
    created = NotificationCreatedV1(
        **key,
        title="Order 4 placed",
        body="We received your order 4 (3.00 EUR).",
        created_at=made_at.isoformat(),
    )
    read = NotificationReadV1(**key, read_at="2026-03-02T08:00:00+00:00")

    inbox.process([envelope(read, origin="notifications", sequence=2)])  # early: waits for #1
    first = envelope(created, origin="notifications", sequence=1)
    inbox.process([first, first])

    notification = Notification.objects.get(user=customer)
    assert (notification.title, notification.created_at) == ("Order 4 placed", made_at)
    assert notification.read_at == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert not mailoutbox  # the service emailed it
    assert not OutboxMessage.objects.filter(aggregate_type="notification").exists()


def test_the_monoliths_own_events_coming_back_change_nothing(customer):
    notification_id = notify_order_event(user_id=customer.pk, kind="order_placed", order_id=5)
    own_read = NotificationReadV1(
        user_id=customer.pk, kind="order_placed", order_id=5, read_at="2026-03-02T08:00:00+00:00"
    )
    own_created = service_created(
        user_id=customer.pk, order_id=5, title="x", body="x", created_at="2030-01-01T00:00:00+00:00"
    )
    InboxProcessor(get_consumer("monolith.notifications")).process(
        [
            envelope(own_created, origin="monolith", sequence=1),
            envelope(own_read, origin="monolith", sequence=2),
        ]
    )
    notification = Notification.objects.get(pk=notification_id)
    assert (notification.title, notification.read_at) == ("Order 5 placed", None)


def test_the_order_consumer_only_keeps_a_silent_copy_while_the_service_owns_notifications(
    customer, mailoutbox, django_capture_on_commit_callbacks
):
    inbox = InboxProcessor(get_consumer("monolith.notifications"))
    ownership_set("notification", "notifications")
    with django_capture_on_commit_callbacks(execute=True):
        inbox.process([envelope(OrderConfirmedV1(order_id=3, customer_id=customer.pk))])
    assert Notification.objects.get().pending and not mailoutbox

    ownership_set("notification", "monolith")  # flipped back: the consumer makes them again
    with django_capture_on_commit_callbacks(execute=True):
        inbox.process([envelope(OrderCancelledV1(order_id=3, customer_id=customer.pk, reason="x"))])
    made = Notification.objects.get(kind="order_cancelled")
    assert not made.pending
    assert [m.subject for m in mailoutbox] == ["Order 3 cancelled"]
