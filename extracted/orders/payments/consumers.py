"""The fake payment provider takes the checkout saga's payment commands from its own queue."""

from contracts.checkout import PaymentRequestedV1, RefundRequestedV1
from contracts.registry import EVENT_TYPES
from extracted.orders.payments import provider
from servicekit.events.inbox.registry import EventConsumer

consumer = EventConsumer("orders.payments", event_types=EVENT_TYPES)


@consumer.on(PaymentRequestedV1)
def payment_requested(event: PaymentRequestedV1, envelope) -> None:
    provider.payment_charge(event)


@consumer.on(RefundRequestedV1)
def refund_requested(event: RefundRequestedV1, envelope) -> None:
    provider.payment_refund(event)
