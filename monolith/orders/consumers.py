"""The monolith mirrors the orders service's orders while it owns `order` (migrations_plan/ 07),
so handing orders back (`orders_handback`) loses none: each event applied once, in order per
order; the monolith's own order events come back on the same stream and are skipped (mirror)."""

from contracts.orders import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderPlacedV1,
    OrderStatusChangedV1,
)
from contracts.registry import EVENT_TYPES
from monolith.orders import services
from servicekit.events.envelope import Envelope
from servicekit.events.inbox.mirror import mirror
from servicekit.events.inbox.registry import EventConsumer

consumer = EventConsumer("monolith.orders", event_types=EVENT_TYPES)


def _placed(event: OrderPlacedV1, envelope: Envelope) -> None:
    services.order_apply_placed(event, occurred_at=envelope.occurred_at)


def _status(status: str | None = None):
    def apply(event) -> None:
        services.order_apply_status(order_id=event.order_id, status=status or event.status)

    return apply


consumer.on(OrderPlacedV1)(mirror(_placed, with_envelope=True))
consumer.on(OrderConfirmedV1)(mirror(_status("confirmed")))
consumer.on(OrderCancelledV1)(mirror(_status("cancelled")))
consumer.on(OrderStatusChangedV1)(mirror(_status()))
