"""Notifications come from order events: the inbox applies each once, in order per order."""

from __future__ import annotations

import structlog
from django.db import transaction

from contracts.notifications import NotificationCreatedV1, NotificationReadV1
from contracts.orders import OrderCancelledV1, OrderConfirmedV1, OrderPlacedV1
from contracts.registry import EVENT_TYPES
from monolith.notifications import services
from monolith.notifications.models import NotificationKind
from monolith.notifications.tasks import notification_send_email
from servicekit.events.envelope import Envelope
from servicekit.events.inbox.mirror import mirror
from servicekit.events.inbox.registry import EventConsumer

consumer = EventConsumer("monolith.notifications", event_types=EVENT_TYPES)


def _notify(*, user_id: int, kind: str, order_id: int, **text: str) -> None:
    """Runs in the inbox transaction; a Celery task emails it after commit (at most once).
    Nothing once the notifications service owns notifications: it makes and emails them."""
    notification = services.notification_for_order_event(
        user_id=user_id, kind=kind, order_id=order_id, **text
    )
    if notification is None:
        return
    # The task leaves after commit, outside the handler's logging context: carry the
    # correlation id of the original request along so the worker's lines share it.
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    transaction.on_commit(lambda: _queue_email(notification.pk, request_id), robust=True)


def _queue_email(notification_id: int, request_id: str | None) -> None:
    with structlog.contextvars.bound_contextvars(request_id=request_id):
        notification_send_email.delay(notification_id=notification_id)


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


# While notifications are replicated, the side that does not own them mirrors the owner's
# notifications and read state (servicekit.events.inbox.mirror skips the monolith's own events).
consumer.on(NotificationCreatedV1)(mirror(services.notification_apply_created))
consumer.on(NotificationReadV1)(mirror(services.notification_apply_read))
