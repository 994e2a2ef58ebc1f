"""Events about orders (aggregate: order)."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.base import Event


@dataclass(frozen=True)
class OrderLineV1:
    sku: str
    name: str
    quantity: int
    unit_price: str


@dataclass(frozen=True)
class _OrderEvent(Event):
    aggregate_type = "order"

    order_id: int
    customer_id: int

    @property
    def aggregate_id(self) -> str:
        return str(self.order_id)


@dataclass(frozen=True)
class OrderPlacedV1(_OrderEvent):
    event_type = "orders.order_placed.v1"

    lines: tuple[OrderLineV1, ...]
    total: str
    currency: str
    status: str

    @classmethod
    def from_payload(cls, payload):
        data = dict(payload)
        data["lines"] = tuple(OrderLineV1(**line) for line in data.get("lines", ()))
        return super().from_payload(data)


@dataclass(frozen=True)
class OrderConfirmedV1(_OrderEvent):
    event_type = "orders.order_confirmed.v1"


@dataclass(frozen=True)
class OrderCancelledV1(_OrderEvent):
    event_type = "orders.order_cancelled.v1"

    reason: str


@dataclass(frozen=True)
class OrderStatusChangedV1(_OrderEvent):
    """A move that is neither a confirmation nor a cancellation (shipped, delivered)."""

    event_type = "orders.order_status_changed.v1"

    status: str
