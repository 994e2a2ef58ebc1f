"""Commands of the orders service's checkout saga (aggregate: checkout, keyed by order id).

The orchestrator (extracted/orders) is the only producer, so every consumer sees one stream
per order starting at sequence 1: the catalog service handles the stock commands, the fake
payment provider the payment ones. Each command is idempotent per order on the receiving side.
"""

from __future__ import annotations

from dataclasses import dataclass

from servicekit.events.event import Event


@dataclass(frozen=True)
class StockLineV1:
    sku: str
    quantity: int


def _with_lines(cls, payload):
    data = dict(payload)
    data["lines"] = tuple(StockLineV1(**line) for line in data.get("lines", ()))
    return data


@dataclass(frozen=True)
class _CheckoutCommand(Event):
    aggregate_type = "checkout"

    order_id: int

    @property
    def aggregate_id(self) -> str:
        return str(self.order_id)


@dataclass(frozen=True)
class _StockCommand(_CheckoutCommand):
    lines: tuple[StockLineV1, ...]

    @classmethod
    def from_payload(cls, payload):
        return super().from_payload(_with_lines(cls, payload))


@dataclass(frozen=True)
class StockReserveRequestedV1(_StockCommand):
    """Hold these units for the order, all or none (available = on hand - reserved)."""

    event_type = "checkout.stock_reserve_requested.v1"


@dataclass(frozen=True)
class StockReleaseRequestedV1(_StockCommand):
    """Compensation: give back what the reservation held (nothing if it failed)."""

    event_type = "checkout.stock_release_requested.v1"


@dataclass(frozen=True)
class StockCommitRequestedV1(_StockCommand):
    """The order is paid: the reserved units are sold (leave on hand and reserved)."""

    event_type = "checkout.stock_commit_requested.v1"


@dataclass(frozen=True)
class StockReturnRequestedV1(_StockCommand):
    """A sold (or, for orders placed in the monolith, taken) order is cancelled: restock."""

    event_type = "checkout.stock_return_requested.v1"


@dataclass(frozen=True)
class PaymentRequestedV1(_CheckoutCommand):
    """Charge the customer. `behaviour` instructs the fake provider (empty: its default)."""

    event_type = "checkout.payment_requested.v1"

    customer_id: int
    amount: str
    currency: str
    behaviour: str


@dataclass(frozen=True)
class RefundRequestedV1(_CheckoutCommand):
    """Compensation: give back whatever was charged for the order (voids a pending charge)."""

    event_type = "checkout.refund_requested.v1"

    reason: str
