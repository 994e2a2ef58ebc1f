"""The service's inbox: notifications from order events, the user directory from user events,
and the other side's notification events (mirrored while notifications are replicated)."""

from contracts.envelope import Envelope
from contracts.notifications import NotificationCreatedV1, NotificationReadV1
from contracts.orders import OrderCancelledV1, OrderConfirmedV1, OrderPlacedV1
from contracts.users import UserCreatedV1, UserUpdatedV1
from extracted.notifications.notifications import services
from extracted.notifications.notifications.models import NotificationKind
from servicekit.events.inbox.mirror import mirror
from servicekit.events.inbox.registry import EventConsumer

consumer = EventConsumer("notifications")


@consumer.on(OrderPlacedV1)
def order_placed(event: OrderPlacedV1, envelope: Envelope) -> None:
    services.notification_for_order(
        user_id=event.customer_id,
        kind=NotificationKind.ORDER_PLACED,
        order_id=event.order_id,
        total=event.total,
        currency=event.currency,
    )


@consumer.on(OrderConfirmedV1)
def order_confirmed(event: OrderConfirmedV1, envelope: Envelope) -> None:
    services.notification_for_order(
        user_id=event.customer_id, kind=NotificationKind.ORDER_CONFIRMED, order_id=event.order_id
    )


@consumer.on(OrderCancelledV1)
def order_cancelled(event: OrderCancelledV1, envelope: Envelope) -> None:
    services.notification_for_order(
        user_id=event.customer_id,
        kind=NotificationKind.ORDER_CANCELLED,
        order_id=event.order_id,
        reason=event.reason,
    )


@consumer.on(UserCreatedV1)
def user_created(event: UserCreatedV1, envelope: Envelope) -> None:
    services.recipient_apply(event)


@consumer.on(UserUpdatedV1)
def user_updated(event: UserUpdatedV1, envelope: Envelope) -> None:
    services.recipient_apply(event)


consumer.on(NotificationCreatedV1)(mirror(services.notification_apply_created))
consumer.on(NotificationReadV1)(mirror(services.notification_apply_read))
