"""Replies of the catalog service to the checkout saga (aggregate: reservation, keyed by order)."""

from __future__ import annotations

from dataclasses import dataclass

from servicekit.events.event import Event


@dataclass(frozen=True)
class ShortageV1:
    sku: str
    requested: int
    available: int


@dataclass(frozen=True)
class _ReservationEvent(Event):
    aggregate_type = "reservation"

    order_id: int

    @property
    def aggregate_id(self) -> str:
        return str(self.order_id)


@dataclass(frozen=True)
class StockReservedV1(_ReservationEvent):
    event_type = "stock.reserved.v1"


@dataclass(frozen=True)
class StockReservationFailedV1(_ReservationEvent):
    event_type = "stock.reservation_failed.v1"

    shortages: tuple[ShortageV1, ...]

    @classmethod
    def from_payload(cls, payload):
        data = dict(payload)
        data["shortages"] = tuple(ShortageV1(**s) for s in data.get("shortages", ()))
        return super().from_payload(data)


@dataclass(frozen=True)
class StockReleasedV1(_ReservationEvent):
    event_type = "stock.released.v1"


@dataclass(frozen=True)
class StockCommittedV1(_ReservationEvent):
    event_type = "stock.committed.v1"


@dataclass(frozen=True)
class StockReturnedV1(_ReservationEvent):
    event_type = "stock.returned.v1"
