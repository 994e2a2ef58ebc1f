"""Events about orders (aggregate: order)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from servicekit.events.event import Event


def _money(value: Any) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def order_comparable(row: dict[str, Any]) -> dict[str, Any]:
    """An exported order's business fields in one comparable shape, for reconciliation on either
    side (both order exports share it): money as two-place strings, lines sorted."""
    lines = sorted(
        (line["sku"], line["name"], _money(line["unit_price"]), int(line["quantity"]))
        for line in row["lines"]
    )
    return {
        "customer_id": int(row["customer_id"]),
        "status": row["status"],
        "total": _money(row["total"]),
        "currency": row["currency"],
        "lines": [list(line) for line in lines],
    }


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
