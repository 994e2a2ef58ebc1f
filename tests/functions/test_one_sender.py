"""`NOTIFICATIONS_ORDER_EMAIL`: the service or the function sends the order email, never both.

Both sides read the same setting and deliver to one real SMTP server here (the service through
Django's SMTP backend), so the sink counts what each of them sent.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from extracted.notifications.notifications import services
from extracted.notifications.notifications.emails import order_email_switch
from extracted.notifications.notifications.models import Notification
from functions.order_email.runtime import handler_from_env
from servicekit.events.envelope import now_utc
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import get_consumer
from servicekit.events.outbox.models import OutboxMessage
from servicekit.migration.ownership import ownership_set
from tests.extracted.notifications.builders import order_placed, user_created
from tests.support.envelopes import envelope

pytestmark = pytest.mark.django_db


@pytest.fixture
def service(settings, tmp_path, sink, django_capture_on_commit_callbacks):
    """The notifications service as the owner, mailing through the sink; `deliver` feeds its
    inbox and runs what waits for the commit (the email)."""
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    ownership_set("notification", "notifications")
    inbox = InboxProcessor(get_consumer("notifications"))

    def deliver(*envelopes):
        with django_capture_on_commit_callbacks(execute=True):
            inbox.process(list(envelopes))

    return deliver


@pytest.fixture
def function(function_env):
    """The function, built from its environment (`NOTIFICATIONS_ORDER_EMAIL` as each test says)."""
    made = []

    def build(**settings: str):
        env = {k: v for k, v in function_env.items() if not k.startswith("NOTIFICATIONS_")}
        made.append(handler_from_env({**env, **settings}))
        return made[-1]

    yield build
    for handler in made:
        handler.ledger.close()


def left_to_function() -> float:
    sample = "notifications_order_email_left_to_function_total"
    return REGISTRY.get_sample_value(sample, {"kind": "order_placed"}) or 0.0


def test_by_default_the_service_sends_and_a_deployed_function_stands_by(
    settings, service, function, sink
):
    # given: neither side told anything
    assert order_email_switch(None) == settings.NOTIFICATIONS_ORDER_EMAIL
    customer, placed = envelope(user_created(), origin="users"), envelope(order_placed(61))
    order_email = function()

    # when: both handle the same events
    service(customer)
    service(placed)
    order_email.handle(customer.to_json())
    outcome = order_email.handle(placed.to_json())

    # then: one email, the service's
    assert outcome.status == "left_to_service"
    [sent] = sink.received()
    assert sent["Subject"] == "Order 61 placed"
    assert Notification.objects.get(order_id=61).emailed_at is not None


def test_with_function_the_service_records_and_only_the_function_sends(
    settings, service, function, sink, caplog
):
    # given: both told the function sends
    settings.NOTIFICATIONS_ORDER_EMAIL = order_email_switch("function")
    order_email = function(NOTIFICATIONS_ORDER_EMAIL="function")
    customer, placed = envelope(user_created(), origin="users"), envelope(order_placed(62))
    counted = left_to_function()
    caplog.set_level(logging.INFO, logger="notifications.email")

    # when: the service consumes the event (twice: a redelivery)
    service(customer)
    service(placed)
    service(placed)

    # then: the notification is made and published as ever, not emailed, and says so
    notification = Notification.objects.get(order_id=62)
    assert (notification.title, notification.email_due, notification.emailed_at) == (
        "Order 62 placed",
        False,
        None,
    )
    assert (
        OutboxMessage.objects.filter(event_type="notifications.notification_created.v1").count()
        == 1
    )
    assert sink.received() == []
    assert services.notifications_email_due() == 0
    assert left_to_function() == counted + 1
    [logged] = [r for r in caplog.records if "left to the function" in r.getMessage()]
    assert (logged.delivered_by, logged.order_id) == ("function", 62)

    # when: the function handles it (and a redelivery)
    order_email.handle(customer.to_json())
    outcomes = [order_email.handle(placed.to_json()).status for _ in range(2)]

    # then: exactly one email, the function's
    assert outcomes == ["sent", "duplicate"]
    [sent] = sink.received()
    assert (sent["Subject"], sent["Message-ID"]) == (
        "Order 62 placed",
        f"<{placed.event_id}@order-email.strangler>",
    )


@pytest.mark.parametrize("sender", ["function", "service"])
def test_a_move_at_a_time_gives_every_event_to_exactly_one_side(
    sender, settings, service, function, sink
):
    # given: both sides told "`sender` from `since` on" (a move, or its rollback)
    since = now_utc()
    settings.NOTIFICATIONS_ORDER_EMAIL = order_email_switch(sender, since.isoformat())
    order_email = function(
        NOTIFICATIONS_ORDER_EMAIL=sender, NOTIFICATIONS_ORDER_EMAIL_SINCE=since.isoformat()
    )
    customer = envelope(user_created(), origin="users")
    before = envelope(order_placed(63), occurred_at=since - timedelta(seconds=1))
    after = envelope(order_placed(64), occurred_at=since)

    # when: each side handles every event, in whatever order
    order_email.handle(customer.to_json())
    order_email.handle(after.to_json())
    service(customer)
    service(before, after)
    order_email.handle(before.to_json())

    # then: one email per event; the earlier one from the side that sent before the move
    by_function = {m["Subject"] for m in sink.received() if "order-email" in m["Message-ID"]}
    assert sorted(m["Subject"] for m in sink.received()) == ["Order 63 placed", "Order 64 placed"]
    assert by_function == ({"Order 64 placed"} if sender == "function" else {"Order 63 placed"})


def test_a_plain_switch_leaves_even_an_older_due_email_to_the_function(settings, service, sink):
    # given: a notification due while the service sent, its customer's address not known yet
    service(envelope(order_placed(65)))
    assert Notification.objects.get(order_id=65).email_due

    # when: the switch moves to the function, then the address arrives
    settings.NOTIFICATIONS_ORDER_EMAIL = order_email_switch("function")
    service(envelope(user_created(), origin="users"))

    # then: the service sends nothing (the function, told the same, emails that event)
    assert sink.received() == []
    assert Notification.objects.get(order_id=65).emailed_at is None


@pytest.mark.parametrize(
    ("sender", "since", "wrong"),
    [
        ("lambda", "", "NOTIFICATIONS_ORDER_EMAIL='lambda'"),
        ("function", "2026-12-02 18:30", "NOTIFICATIONS_ORDER_EMAIL_SINCE="),
        ("function", "tomorrow", "NOTIFICATIONS_ORDER_EMAIL_SINCE="),
    ],
)
def test_a_wrong_value_fails_the_function_start(sender, since, wrong, function_env):
    env = {
        **function_env,
        "NOTIFICATIONS_ORDER_EMAIL": sender,
        "NOTIFICATIONS_ORDER_EMAIL_SINCE": since,
    }
    with pytest.raises(ValueError, match=wrong):
        handler_from_env(env)
