"""Every event type of the shop by name, and the upcasters that lift an older version to the current one.

The consumers are given `EVENT_TYPES` (servicekit.events.types.EventTypes); the functions below
are its methods, for code that has no consumer (functions/order_email, tests).
"""

from __future__ import annotations

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
from contracts.stock import (
    StockCommittedV1,
    StockReleasedV1,
    StockReservationFailedV1,
    StockReservedV1,
    StockReturnedV1,
)
from contracts.users import UserCreatedV1, UserPasswordChangedV1, UserUpdatedV1
from servicekit.events.event import Event
from servicekit.events.records import RecordChangedV1
from servicekit.events.types import EventTypes, Payload, Upcaster

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


def _stock_changed_v1_to_v2(payload: Payload) -> Payload:
    return {**payload, "available": payload["on_hand"] - payload["reserved"]}


# Old event type -> (next event type, payload transform). Keep an entry for one release after
# the producer switched to the newer version, then delete it together with the old class.
UPCASTERS: dict[str, tuple[str, Upcaster]] = {
    StockChangedV1.event_type: (StockChangedV2.event_type, _stock_changed_v1_to_v2),
}

EVENT_TYPES = EventTypes(EVENT_CLASSES, UPCASTERS)
BY_TYPE: dict[str, type[Event]] = EVENT_TYPES.by_type
event_class = EVENT_TYPES.event_class
latest_type = EVENT_TYPES.latest_type
upcast = EVENT_TYPES.upcast
decode = EVENT_TYPES.decode
type_names = EVENT_TYPES.type_names
