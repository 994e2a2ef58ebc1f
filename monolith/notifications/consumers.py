"""Notifications come from order events: the inbox applies each once, in order per order."""

from __future__ import annotations

from django.db import transaction

from contracts.envelope import Envelope
from contracts.orders import OrderCancelledV1, OrderConfirmedV1, OrderPlacedV1
from monolith.notifications import services
from monolith.notifications.models import NotificationKind
from servicekit.inbox.registry import EventConsumer

consumer = EventConsumer("monolith.notifications")


def _notify(*, user_id: int, kind: str, order_id: int, **text: str) -> None:
    """Runs in the inbox transaction; the email leaves after it commits (sent at most once)."""
    if not services.user_exists(user_id):
        return
    notification, _created = services.notification_for_order(
        user_id=user_id, kind=kind, order_id=order_id, **text
    )
    transaction.on_commit(
        lambda: services.notification_email(notification_id=notification.pk), robust=True
    )


@consumer.on(OrderPlacedV1)
def order_placed(event: OrderPlacedV1, envelope: Envelope) -> None:
    _notify(
        user_id=event.customer_id,
        kind=NotificationKind.ORDER_PLACED,
        order_id=event.order_id,
        total=event.total,
        currency=event.currency,
    )


@consumer.on(OrderConfirmedV1)
def order_confirmed(event: OrderConfirmedV1, envelope: Envelope) -> None:
    _notify(
        user_id=event.customer_id, kind=NotificationKind.ORDER_CONFIRMED, order_id=event.order_id
    )


@consumer.on(OrderCancelledV1)
def order_cancelled(event: OrderCancelledV1, envelope: Envelope) -> None:
    _notify(
        user_id=event.customer_id,
        kind=NotificationKind.ORDER_CANCELLED,
        order_id=event.order_id,
        reason=event.reason,
    )
