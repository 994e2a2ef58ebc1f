"""The plain handler against a real SMTP server and a real ledger database: the email once per
event, retry-later when it cannot be sent yet, and contract violations named."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from functions.order_email.core import OrderEmailHandler
from functions.order_email.errors import InvalidEvent, RetryLater
from functions.order_email.ledger import EmailLedger
from functions.order_email.mailer import SmtpMailer
from functions.order_email.runtime import handler_from_env
from tests.extracted.notifications.builders import CUSTOMER, order_cancelled, user_updated
from tests.functions.builders import customer_json, placed_json
from tests.support.envelopes import envelope
from tests.support.processes import free_port


@pytest.fixture
def order_email(function_env):
    handler = handler_from_env(function_env)
    yield handler
    handler.ledger.close()


def test_an_order_event_emails_its_customer_once(order_email, sink):
    # given
    order_email.handle(customer_json())
    event_id, placed = placed_json(7)

    # when: delivered, then redelivered (at-least-once queues do)
    first = order_email.handle(placed)
    again = order_email.handle(placed)

    # then
    assert (first.status, again.status) == ("sent", "duplicate")
    [message] = sink.received()
    assert (message["Subject"], message["To"], message["From"]) == (
        "Order 7 placed",
        "carol@example.com",
        "shop@strangler.local",
    )
    assert message.get_content().strip() == "We received your order 7 (3.00 EUR)."
    assert message["Message-ID"] == f"<{event_id}@order-email.strangler>"


def test_the_dedup_record_outlives_the_instance(function_env, sink):
    """A new instance (another cold start) reads the same ledger: no second email."""
    first = handler_from_env(function_env)
    first.handle(customer_json())
    _, placed = placed_json(8)
    first.handle(placed)
    first.ledger.close()

    second = handler_from_env(function_env)
    assert second.handle(placed).status == "duplicate"
    second.ledger.close()
    assert len(sink.received()) == 1


def test_an_unknown_customer_is_retried_later_then_emailed(order_email, sink):
    _, placed = placed_json(9)
    with pytest.raises(RetryLater, match=f"user {CUSTOMER} is not in the directory"):
        order_email.handle(placed)
    assert sink.received() == []

    order_email.handle(customer_json())
    assert order_email.handle(placed).status == "sent"
    assert [m["To"] for m in sink.received()] == ["carol@example.com"]


def test_the_newest_address_wins_whatever_the_delivery_order(order_email, sink):
    created = customer_json(email="old@example.com")
    updated = envelope(user_updated(email="new@example.com"), origin="users").to_json()
    order_email.handle(updated)
    order_email.handle(created)  # older, delivered late

    order_email.handle(envelope(order_cancelled(3), origin="orders").to_json())

    [message] = sink.received()
    assert (message["To"], message["Subject"]) == ("new@example.com", "Order 3 cancelled")
    assert message.get_content().strip() == "Your order 3 was cancelled: out of coffee."


def test_an_smtp_outage_releases_the_claim_so_the_redelivery_sends(order_email, sink):
    order_email.handle(customer_json())
    event_id, placed = placed_json(10)
    working = order_email.mailer
    order_email.mailer = SmtpMailer(f"smtp://127.0.0.1:{free_port()}", timeout=2)  # nobody there

    with pytest.raises(RetryLater, match="SMTP server did not take"):
        order_email.handle(placed)
    assert not order_email.ledger.was_sent(event_id)

    order_email.mailer = working
    assert order_email.handle(placed).status == "sent"
    assert len(sink.received()) == 1


def test_a_claim_in_flight_defers_a_second_delivery_until_its_lease_runs_out(function_env, sink):
    now = [1000.0]
    ledger = EmailLedger.connect(function_env["ORDER_EMAIL_DATABASE_URL"])
    order_email = OrderEmailHandler(
        ledger=ledger,
        mailer=SmtpMailer(sink.url),
        from_email="shop@strangler.local",
        claim_lease=60,
        clock=lambda: now[0],
    )
    order_email.handle(customer_json())
    event_id, placed = placed_json(11)
    # another invocation claimed it and has not finished (or died after claiming)
    assert ledger.claim(event_id, now=now[0], lease=60)[0] == "claimed"

    with pytest.raises(RetryLater, match="being emailed by another invocation"):
        order_email.handle(placed)
    now[0] += 61  # the holder's lease ran out: it died
    assert order_email.handle(placed).status == "sent"
    assert len(sink.received()) == 1
    ledger.close()


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda e: e.pop("payload"), "the envelope has no 'payload'"),
        (lambda e: e["payload"].pop("total"), "missing 1 required positional argument: 'total'"),
        (lambda e: e.update(event_type="orders.order_teleported.v1"), "unknown event type"),
        (lambda e: e.update(occurred_at="2026-01-01T00:00:00"), "must carry a timezone"),
        (lambda e: e["payload"].update(colour="red"), "unknown fields ['colour']"),
    ],
)
def test_an_event_that_breaks_its_contract_is_invalid_and_names_why(
    order_email, sink, mutate, named
):
    order_email.handle(customer_json())
    data = json.loads(placed_json(12)[1])
    mutate(data)
    with pytest.raises(InvalidEvent) as raised:
        order_email.handle(json.dumps(data))
    assert named in str(raised.value)
    assert sink.received() == []


def test_not_json_is_invalid(order_email):
    with pytest.raises(InvalidEvent, match="does not match its contract"):
        order_email.handle(b"{not json")
    with pytest.raises(InvalidEvent, match="must be a JSON object"):
        order_email.handle("[1, 2]")


def test_the_function_refuses_to_start_without_its_settings():
    with pytest.raises(RuntimeError, match="ORDER_EMAIL_DATABASE_URL, ORDER_EMAIL_SMTP_URL"):
        handler_from_env({})


def test_instances_racing_on_one_event_send_it_once(function_env, sink):
    """Eight instances (each its own connection) get the same event at the same moment."""
    instances = [handler_from_env(function_env) for _ in range(8)]
    instances[0].handle(customer_json())
    _, placed = placed_json(13)
    start = threading.Barrier(len(instances))

    def deliver(instance) -> str:
        start.wait()
        try:
            return instance.handle(placed).status
        except RetryLater:
            return "retry later"

    with ThreadPoolExecutor(len(instances)) as pool:
        outcomes = list(pool.map(deliver, instances))
    for instance in instances:
        instance.ledger.close()

    assert outcomes.count("sent") == 1
    assert set(outcomes) <= {"sent", "duplicate", "retry later"}
    assert len(sink.received()) == 1
