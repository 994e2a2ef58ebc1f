"""What an order event tells its customer: the notification's kind, title and body.

Plain code (no Django): the service's consumers and the order-email function
(`functions/order_email/`) both render from here, so one event gives one email wherever it is
handled.
"""

from __future__ import annotations

from dataclasses import dataclass

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
