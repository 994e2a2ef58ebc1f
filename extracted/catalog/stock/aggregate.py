"""Stock per sku as an event-sourced aggregate: its events and the pure fold over them (no Django).

The state of a sku's stock is whatever its events add up to. Units, per event type:
received: on_hand += quantity (goods in); reserved: reserved += quantity (held for an order);
released: reserved -= quantity (hold given back); committed: on_hand -= quantity and
reserved -= quantity (sold); returned: on_hand += quantity (sold units back on the shelf);
adjusted: on_hand and reserved set to counted values (a stock-take, a mirrored level, the
opening balance of a sku whose stock predates the event store).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

RECEIVED = "received"
RESERVED = "reserved"
RELEASED = "released"
COMMITTED = "committed"
RETURNED = "returned"
ADJUSTED = "adjusted"
EVENT_TYPES = (RECEIVED, RESERVED, RELEASED, COMMITTED, RETURNED, ADJUSTED)


@dataclass(frozen=True)
class StockEventData:
    """One event of a sku's stream, before or after it is stored (payload is JSON-able)."""

    type: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class StockState:
    on_hand: int = 0
    reserved: int = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def as_dict(self) -> dict[str, int]:
        return {"on_hand": self.on_hand, "reserved": self.reserved}


def received(quantity: int) -> StockEventData:
    return StockEventData(RECEIVED, {"quantity": quantity})


def reserved(quantity: int, *, order_id: int) -> StockEventData:
    return StockEventData(RESERVED, {"quantity": quantity, "order_id": order_id})


def released(quantity: int, *, order_id: int) -> StockEventData:
    return StockEventData(RELEASED, {"quantity": quantity, "order_id": order_id})


def committed(quantity: int, *, order_id: int) -> StockEventData:
    return StockEventData(COMMITTED, {"quantity": quantity, "order_id": order_id})


def returned(quantity: int, *, order_id: int) -> StockEventData:
    return StockEventData(RETURNED, {"quantity": quantity, "order_id": order_id})


def adjusted(*, on_hand: int, reserved: int, reason: str = "adjustment") -> StockEventData:
    return StockEventData(ADJUSTED, {"on_hand": on_hand, "reserved": reserved, "reason": reason})


def apply(state: StockState, event: StockEventData) -> StockState:
    """The state after one event. Unknown types fail loudly: a stream is never half-read."""
    payload = event.payload
    if event.type == ADJUSTED:
        return StockState(on_hand=payload["on_hand"], reserved=payload["reserved"])
    quantity = payload["quantity"]
    if event.type == RECEIVED or event.type == RETURNED:
        return StockState(on_hand=state.on_hand + quantity, reserved=state.reserved)
    if event.type == RESERVED:
        return StockState(on_hand=state.on_hand, reserved=state.reserved + quantity)
    if event.type == RELEASED:
        return StockState(on_hand=state.on_hand, reserved=state.reserved - quantity)
    if event.type == COMMITTED:
        return StockState(on_hand=state.on_hand - quantity, reserved=state.reserved - quantity)
    raise ValueError(f"unknown stock event type {event.type!r}")


def fold(events: Iterable[StockEventData], state: StockState | None = None) -> StockState:
    """Fold `events` over `state` (a snapshot's, or the empty stock of a new sku)."""
    state = state or StockState()
    for event in events:
        state = apply(state, event)
    return state
