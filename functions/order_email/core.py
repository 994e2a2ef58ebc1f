"""The plain handler: an envelope in, validated against its contract, the email sent once.

Knows no platform: the Cloud Run and Lambda entry points unwrap their delivery and call
`OrderEmailHandler.handle` with the envelope; its exceptions tell them whether to retry.
"""

from __future__ import annotations

import json
import smtplib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from contracts.registry import decode
from contracts.users import UserCreatedV1, UserUpdatedV1
from extracted.notifications.notifications.emails import (
    BY_FUNCTION,
    ORDER_EVENTS,
    OrderEmailSwitch,
    order_notice,
)
from functions.order_email.errors import InvalidEvent, RetryLater
from functions.order_email.ledger import EmailLedger
from functions.order_email.mailer import SmtpMailer
from servicekit.events.envelope import Envelope
from servicekit.events.types import UnknownEventType

Status = Literal[
    "sent", "duplicate", "no_address", "left_to_service", "recipient_recorded", "ignored"
]


@dataclass(frozen=True)
class Outcome:
    event_id: str
    event_type: str
    status: Status

    def to_dict(self) -> dict[str, str]:
        return {"event_id": self.event_id, "event_type": self.event_type, "status": self.status}


ALL_BY_FUNCTION = OrderEmailSwitch(sender=BY_FUNCTION)


def envelope_parse(data: Mapping[str, Any] | bytes | str) -> tuple[Envelope, Any]:
    """The envelope and its payload as the contract's class; InvalidEvent names what is wrong."""
    try:
        if isinstance(data, (bytes, str)):
            data = json.loads(data)
        if not isinstance(data, Mapping):
            raise InvalidEvent("the event must be a JSON object: an event envelope")
        envelope = Envelope.from_dict(dict(data))
        return envelope, decode(envelope)
    except InvalidEvent:
        raise
    except UnknownEventType as exc:
        raise InvalidEvent(f"unknown event type {exc.args[0]!r}") from exc
    except KeyError as exc:
        raise InvalidEvent(f"the envelope has no {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:  # a bad field, JSON or payload shape
        raise InvalidEvent(f"the event does not match its contract: {exc}") from exc


class OrderEmailHandler:
    """Emails an order event's customer once per event id; keeps the recipient directory from
    the users stream (an order event carries a customer id, not an address).

    `claim_lease`: how long a claim taken before sending blocks another delivery of the same
    event; a holder that died is taken over after it (sent at most once within a lease).
    `switch`: which order events are this function's to email (the notifications service emails
    the others); `runtime.handler_from_env` reads it from `NOTIFICATIONS_ORDER_EMAIL` (+ `_SINCE`),
    where unset means the service, so a function deployed without it emails nobody.
    """

    def __init__(
        self,
        *,
        ledger: EmailLedger,
        mailer: SmtpMailer,
        from_email: str,
        claim_lease: float = 300.0,
        clock: Callable[[], float] = time.time,
        switch: OrderEmailSwitch = ALL_BY_FUNCTION,
    ):
        self.ledger = ledger
        self.mailer = mailer
        self.from_email = from_email
        self.claim_lease = claim_lease
        self.clock = clock
        self.switch = switch

    def handle(self, data: Mapping[str, Any] | bytes | str) -> Outcome:
        envelope, event = envelope_parse(data)
        if isinstance(event, ORDER_EVENTS):
            status = self._email(envelope, event)
        elif isinstance(event, (UserCreatedV1, UserUpdatedV1)):
            self.ledger.recipient_put(
                user_id=event.user_id,
                email=event.email if event.is_active else "",
                sequence=envelope.sequence,
            )
            status = "recipient_recorded"
        else:
            status = "ignored"  # a valid event this function has nothing to do with
        return Outcome(
            event_id=str(envelope.event_id), event_type=envelope.event_type, status=status
        )

    def _email(self, envelope: Envelope, event: Any) -> Status:
        if self.switch.sender_of(envelope.occurred_at) != BY_FUNCTION:
            return "left_to_service"  # acknowledged: the notifications service emails it
        event_id = str(envelope.event_id)
        if self.ledger.was_sent(event_id):
            return "duplicate"
        notice = order_notice(event)
        recipient = self.ledger.recipient_get(notice.user_id)
        if recipient is None:
            raise RetryLater(f"user {notice.user_id} is not in the directory yet")
        if not recipient.email:
            return "no_address"  # as the service: a user without an address gets no email
        claim, claimed_at = self.ledger.claim(event_id, now=self.clock(), lease=self.claim_lease)
        if claim == "sent":
            return "duplicate"
        if claim == "busy":
            raise RetryLater(f"event {event_id} is being emailed by another invocation")
        try:
            self.mailer.send(
                subject=notice.title,
                body=notice.body,
                from_email=self.from_email,
                to=recipient.email,
                message_id=f"<{event_id}@order-email.strangler>",
            )
        except (OSError, smtplib.SMTPException) as exc:
            self.ledger.release(event_id, claimed_at=claimed_at)
            raise RetryLater(f"the SMTP server did not take the email: {exc!r}") from exc
        self.ledger.mark_sent(event_id, now=self.clock())
        return "sent"
