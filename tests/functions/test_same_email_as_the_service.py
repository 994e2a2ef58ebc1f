"""For the same event, the function's email says what the notifications service's says."""

from __future__ import annotations

import pytest

from functions.order_email.runtime import handler_from_env
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import get_consumer
from servicekit.migration.ownership import ownership_set
from tests.extracted.notifications.builders import (
    order_cancelled,
    order_confirmed,
    order_placed,
    user_created,
)
from tests.support.envelopes import envelope


@pytest.mark.django_db
@pytest.mark.parametrize("event", [order_placed(41), order_confirmed(42), order_cancelled(43)])
def test_the_function_and_the_service_send_the_same_email(
    event, function_env, sink, settings, tmp_path, mailoutbox, django_capture_on_commit_callbacks
):
    # given: the service owns notifications; both know the customer
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")
    settings.DEFAULT_FROM_EMAIL = function_env["DEFAULT_FROM_EMAIL"]
    ownership_set("notification", "notifications")
    inbox = InboxProcessor(get_consumer("notifications"))
    customer = envelope(user_created(), origin="users")
    delivered = envelope(event, origin="orders")
    order_email = handler_from_env(function_env)

    # when: each handles the same envelope
    with django_capture_on_commit_callbacks(execute=True):
        inbox.process([customer])
    with django_capture_on_commit_callbacks(execute=True):
        inbox.process([delivered])
    order_email.handle(customer.to_json())
    order_email.handle(delivered.to_json())
    order_email.ledger.close()

    # then
    [by_service] = mailoutbox
    [by_function] = sink.received()
    assert (by_function["Subject"], by_function["From"], by_function["To"]) == (
        by_service.subject,
        by_service.from_email,
        ", ".join(by_service.to),
    )
    assert by_function.get_content().rstrip("\r\n") == by_service.body  # SMTP ends lines CRLF
