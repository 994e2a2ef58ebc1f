"""The service's inbox: notifications from order events, the user directory from user events,
and the other side's notification events (mirrored while notifications are replicated)."""

from contracts.notifications import NotificationCreatedV1, NotificationReadV1
from contracts.registry import EVENT_TYPES
from contracts.users import UserCreatedV1, UserUpdatedV1
from extracted.notifications.notifications import services
from extracted.notifications.notifications.emails import ORDER_EVENTS, OrderEvent, order_notice
from servicekit.events.envelope import Envelope
from servicekit.events.inbox.mirror import mirror
from servicekit.events.inbox.registry import EventConsumer

consumer = EventConsumer("notifications", event_types=EVENT_TYPES)


def order_event(event: OrderEvent, envelope: Envelope) -> None:
    services.notification_for_order(notice=order_notice(event), occurred_at=envelope.occurred_at)


for _order_event in ORDER_EVENTS:
    consumer.on(_order_event)(order_event)


@consumer.on(UserCreatedV1)
def user_created(event: UserCreatedV1, envelope: Envelope) -> None:
    services.recipient_apply(event)


@consumer.on(UserUpdatedV1)
def user_updated(event: UserUpdatedV1, envelope: Envelope) -> None:
    services.recipient_apply(event)


consumer.on(NotificationCreatedV1)(mirror(services.notification_apply_created))
consumer.on(NotificationReadV1)(mirror(services.notification_apply_read))
