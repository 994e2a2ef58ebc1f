"""What an order event tells its customer: the notification's kind, title and body.

Plain code (no Django): the service's consumers and the order-email function
(`functions/order_email/`) both render from here, so one event gives one email wherever it is
handled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.orders import OrderCancelledV1, OrderConfirmedV1, OrderPlacedV1

ORDER_PLACED = "order_placed"
ORDER_CONFIRMED = "order_confirmed"
ORDER_CANCELLED = "order_cancelled"

# The monolith's texts, word for word: a user must not see which side made a notification.
_TEXT = {
    ORDER_PLACED: ("Order {id} placed", "We received your order {id} ({total} {currency})."),
    ORDER_CONFIRMED: ("Order {id} confirmed", "Your order {id} is confirmed."),
    ORDER_CANCELLED: ("Order {id} cancelled", "Your order {id} was cancelled: {reason}."),
}

OrderEvent = OrderPlacedV1 | OrderConfirmedV1 | OrderCancelledV1
ORDER_EVENTS: tuple[type[OrderEvent], ...] = (OrderPlacedV1, OrderConfirmedV1, OrderCancelledV1)


@dataclass(frozen=True)
class OrderNotice:
    """One customer's notice of one order event; `title` is the email's subject."""

    user_id: int
    kind: str
    order_id: int
    title: str
    body: str


def order_text(
    kind: str, *, order_id: int, total: str = "", currency: str = "", reason: str = ""
) -> tuple[str, str]:
    """(title, body) of an order notification of `kind`."""
    title, body = _TEXT[kind]
    fields = {"id": order_id, "total": total, "currency": currency, "reason": reason}
    return title.format(**fields), body.format(**fields)


def order_notice(event: OrderEvent) -> OrderNotice:
    """The notice an order event gives its customer."""
    if isinstance(event, OrderPlacedV1):
        kind, extra = ORDER_PLACED, {"total": event.total, "currency": event.currency}
    elif isinstance(event, OrderConfirmedV1):
        kind, extra = ORDER_CONFIRMED, {}
    elif isinstance(event, OrderCancelledV1):
        kind, extra = ORDER_CANCELLED, {"reason": event.reason}
    else:
        raise TypeError(f"no order notice for {type(event).__name__}")
    title, body = order_text(kind, order_id=event.order_id, **extra)
    return OrderNotice(
        user_id=event.customer_id, kind=kind, order_id=event.order_id, title=title, body=body
    )


# --- who sends the order email: the service or the function, never both ----------------------

ORDER_EMAIL_SETTING = "NOTIFICATIONS_ORDER_EMAIL"
ORDER_EMAIL_SINCE_SETTING = "NOTIFICATIONS_ORDER_EMAIL_SINCE"
BY_SERVICE = "service"
BY_FUNCTION = "function"
ORDER_EMAIL_SENDERS = (BY_SERVICE, BY_FUNCTION)


@dataclass(frozen=True)
class OrderEmailSwitch:
    """Who emails an order event: `sender` for an event that occurred at or after `since` (for
    every event without it), the other one for an earlier event.

    The service and the function read the same two settings and decide by the event's own
    `occurred_at`, so they agree on every event whenever each of them handles it: with `since`
    set ahead of the moment both run the new values, a move is neither a gap nor a double.
    """

    sender: str = BY_SERVICE
    since: datetime | None = None

    def sender_of(self, occurred_at: datetime) -> str:
        if self.since is None or occurred_at >= self.since:
            return self.sender
        return BY_FUNCTION if self.sender == BY_SERVICE else BY_SERVICE


def order_email_switch(sender: str | None, since: str | None = None) -> OrderEmailSwitch:
    """The switch from the raw settings (unset: the service sends everything); ValueError names a
    wrong value, so a typo fails the start instead of silencing or doubling emails."""
    value = (sender or BY_SERVICE).strip().lower()
    if value not in ORDER_EMAIL_SENDERS:
        raise ValueError(
            f"{ORDER_EMAIL_SETTING}={sender!r}: use one of {', '.join(ORDER_EMAIL_SENDERS)}"
        )
    if not since:
        return OrderEmailSwitch(sender=value)
    try:
        moment = datetime.fromisoformat(since.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(
            f"{ORDER_EMAIL_SINCE_SETTING}={since!r}: an ISO 8601 time with its zone, "
            "e.g. 2026-12-02T18:30:00+00:00"
        )
    return OrderEmailSwitch(sender=value, since=moment)
