"""The orders service's consumer: saga replies, the catalog replica, the monolith's orders
(copied while it owns them) and the history read model (every order event, any origin)."""

from contracts.catalog import (
    ProductCreatedV1,
    ProductPriceChangedV1,
    ProductUpdatedV1,
    StockChangedV2,
)
from contracts.orders import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderPlacedV1,
    OrderStatusChangedV1,
)
from contracts.payments import (
    PaymentCapturedV1,
    PaymentDeclinedV1,
    PaymentFailedV1,
    PaymentRefundedV1,
    PaymentRefundFailedV1,
)
from contracts.registry import EVENT_TYPES
from contracts.stock import (
    StockCommittedV1,
    StockReleasedV1,
    StockReservationFailedV1,
    StockReservedV1,
    StockReturnedV1,
)
from extracted.orders.history import projections
from extracted.orders.orders import saga, services
from servicekit.events.envelope import Envelope
from servicekit.events.inbox.mirror import aggregate_sequence_observe
from servicekit.events.inbox.registry import EventConsumer
from servicekit.events.settings import events_settings

consumer = EventConsumer("orders", event_types=EVENT_TYPES)


def _from_elsewhere(envelope: Envelope) -> bool:
    """Another service's order (the monolith's, before the flip): keep our copy and continue
    its event sequence, so our first own event about it follows the monolith's last."""
    if envelope.origin == events_settings().SERVICE:
        return False
    aggregate_sequence_observe(
        aggregate_type=envelope.aggregate_type,
        aggregate_id=envelope.aggregate_id,
        sequence=envelope.sequence,
    )
    return True


# --- orders: copy of the monolith's, and the history read model ------------------------------


@consumer.on(OrderPlacedV1)
def order_placed(event: OrderPlacedV1, envelope: Envelope) -> None:
    if _from_elsewhere(envelope):
        services.order_apply_placed(event, occurred_at=envelope.occurred_at)
    projections.history_apply_placed(event, occurred_at=envelope.occurred_at)


def _status(status: str):
    def handler(event, envelope: Envelope) -> None:
        if _from_elsewhere(envelope):
            services.order_apply_status(order_id=event.order_id, status=status)
        projections.history_apply_status(
            order_id=event.order_id, status=status, occurred_at=envelope.occurred_at
        )

    return handler


consumer.on(OrderConfirmedV1)(_status("confirmed"))
consumer.on(OrderCancelledV1)(_status("cancelled"))


@consumer.on(OrderStatusChangedV1)
def order_status_changed(event: OrderStatusChangedV1, envelope: Envelope) -> None:
    _status(event.status)(event, envelope)


# --- the catalog replica ----------------------------------------------------------------------

consumer.on(ProductCreatedV1)(lambda event, envelope: services.product_apply_created(event))
consumer.on(ProductUpdatedV1)(lambda event, envelope: services.product_apply_updated(event))
consumer.on(ProductPriceChangedV1)(
    lambda event, envelope: services.product_apply_price_changed(event)
)
consumer.on(StockChangedV2)(lambda event, envelope: services.stock_apply_changed(event))

# --- saga replies -----------------------------------------------------------------------------

consumer.on(StockReservedV1)(lambda event, envelope: saga.on_stock_reserved(event.order_id))
consumer.on(StockReservationFailedV1)(
    lambda event, envelope: saga.on_stock_reservation_failed(
        event.order_id, [s.__dict__ for s in event.shortages]
    )
)
consumer.on(StockCommittedV1)(lambda event, envelope: saga.on_stock_committed(event.order_id))
consumer.on(StockReleasedV1)(lambda event, envelope: saga.on_stock_released(event.order_id))
consumer.on(StockReturnedV1)(lambda event, envelope: saga.on_stock_returned(event.order_id))
consumer.on(PaymentCapturedV1)(lambda event, envelope: saga.on_payment_captured(event.order_id))
consumer.on(PaymentDeclinedV1)(
    lambda event, envelope: saga.on_payment_refused(event.order_id, event.reason)
)
consumer.on(PaymentFailedV1)(
    lambda event, envelope: saga.on_payment_refused(event.order_id, event.reason)
)
consumer.on(PaymentRefundedV1)(lambda event, envelope: saga.on_payment_refunded(event.order_id))
consumer.on(PaymentRefundFailedV1)(
    lambda event, envelope: saga.on_refund_failed(event.order_id, event.reason)
)
