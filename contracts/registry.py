"""Every event type by name, and the upcasters that lift an older version to the current one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts.base import Event
from contracts.catalog import (
    CategoryCreatedV1,
    ProductCreatedV1,
    ProductPriceChangedV1,
    ProductUpdatedV1,
    StockChangedV1,
    StockChangedV2,
)
from contracts.checkout import (
    PaymentRequestedV1,
    RefundRequestedV1,
    StockCommitRequestedV1,
    StockReleaseRequestedV1,
    StockReserveRequestedV1,
    StockReturnRequestedV1,
)
from contracts.envelope import Envelope, split_event_type
from contracts.notifications import NotificationCreatedV1, NotificationReadV1
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
from contracts.records import RecordChangedV1
from contracts.stock import (
    StockCommittedV1,
    StockReleasedV1,
    StockReservationFailedV1,
    StockReservedV1,
    StockReturnedV1,
)
from contracts.users import UserCreatedV1, UserPasswordChangedV1, UserUpdatedV1

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

EVENT_CLASSES: tuple[type[Event], ...] = (
    UserCreatedV1,
    UserUpdatedV1,
    UserPasswordChangedV1,
    CategoryCreatedV1,
    ProductCreatedV1,
    ProductUpdatedV1,
    ProductPriceChangedV1,
    StockChangedV1,
    StockChangedV2,
    OrderPlacedV1,
    OrderConfirmedV1,
    OrderCancelledV1,
    OrderStatusChangedV1,
    StockReserveRequestedV1,
    StockReleaseRequestedV1,
    StockCommitRequestedV1,
    StockReturnRequestedV1,
    PaymentRequestedV1,
    RefundRequestedV1,
    StockReservedV1,
    StockReservationFailedV1,
    StockReleasedV1,
    StockCommittedV1,
    StockReturnedV1,
    PaymentCapturedV1,
    PaymentDeclinedV1,
    PaymentFailedV1,
    PaymentRefundedV1,
    PaymentRefundFailedV1,
    NotificationCreatedV1,
    NotificationReadV1,
    RecordChangedV1,
)
BY_TYPE: dict[str, type[Event]] = {cls.event_type: cls for cls in EVENT_CLASSES}


def _stock_changed_v1_to_v2(payload: Payload) -> Payload:
    return {**payload, "available": payload["on_hand"] - payload["reserved"]}


# Old event type -> (next event type, payload transform). Keep an entry for one release after
# the producer switched to the newer version, then delete it together with the old class.
UPCASTERS: dict[str, tuple[str, Upcaster]] = {
    StockChangedV1.event_type: (StockChangedV2.event_type, _stock_changed_v1_to_v2),
}


class UnknownEventType(LookupError):
    """No contract class (and no upcaster) for this event type."""


def event_class(event_type: str) -> type[Event]:
    try:
        return BY_TYPE[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None


def latest_type(event_type: str) -> str:
    """The newest version this code knows for `event_type`'s name (`...v1` -> `...v2`)."""
    while event_type in UPCASTERS:
        event_type = UPCASTERS[event_type][0]
    return event_type


def upcast(event_type: str, payload: Payload) -> tuple[str, Payload]:
    """Lift a payload through every upcaster until it reaches the newest known version."""
    while event_type in UPCASTERS:
        next_type, transform = UPCASTERS[event_type]
        payload = transform(payload)
        event_type = next_type
    return event_type, payload


def decode(envelope: Envelope) -> Event:
    """The envelope's payload as the newest contract class of its event type."""
    event_type, payload = upcast(envelope.event_type, envelope.payload)
    return event_class(event_type).from_payload(payload)


def type_names() -> set[str]:
    return {split_event_type(t)[0] for t in BY_TYPE}
