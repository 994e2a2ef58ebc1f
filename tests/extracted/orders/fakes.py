"""The rest of the fleet, in-process: product events applied, a fake catalog, a settle loop."""

from __future__ import annotations

import uuid

from contracts.checkout import (
    StockCommitRequestedV1,
    StockReleaseRequestedV1,
    StockReserveRequestedV1,
    StockReturnRequestedV1,
)
from contracts.stock import (
    ShortageV1,
    StockCommittedV1,
    StockReleasedV1,
    StockReservationFailedV1,
    StockReservedV1,
    StockReturnedV1,
)
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import get_consumer
from servicekit.events.outbox.models import OutboxMessage
from tests.support.envelopes import envelope
from tests.support.events import deliver


def apply(*events, origin: str, consumer: str = "orders") -> None:
    InboxProcessor(get_consumer(consumer)).process([envelope(e, origin=origin) for e in events])


def product(sku: str = "MUG-1", *, price: str = "4.50", on_hand: int = 10, **overrides):
    from contracts.catalog import ProductCreatedV1

    fields = {
        "sku": sku,
        "name": f"Product {sku}",
        "description": "",
        "category": "kitchen",
        "price": price,
        "currency": "EUR",
        "is_active": True,
        "on_hand": on_hand,
        "reserved": 0,
        **overrides,
    }
    return ProductCreatedV1(**fields)


class FakeCatalog:
    """Answers the saga's stock commands like the catalog service, from its own counters."""

    def __init__(self, stock: dict[str, int]):
        self.on_hand = dict(stock)
        self.reserved = dict.fromkeys(stock, 0)
        self.state: dict[int, str] = {}
        self.seen: set[uuid.UUID] = set()
        self.silent = False  # "down": commands wait

    def answer(self) -> int:
        if self.silent:
            return 0
        answered = 0
        for row in OutboxMessage.objects.filter(aggregate_type="checkout").order_by("id"):
            if row.event_id in self.seen or "stock_" not in row.event_type:
                continue
            self.seen.add(row.event_id)
            answered += 1
            order_id, lines = row.payload["order_id"], row.payload["lines"]
            reply = self._handle(row.event_type, order_id, lines)
            apply(reply, origin="catalog")
        return answered

    def _handle(self, event_type: str, order_id: int, lines: list[dict]):
        if event_type == StockReserveRequestedV1.event_type:
            short = [
                line
                for line in lines
                if self.on_hand[line["sku"]] - self.reserved[line["sku"]] < line["quantity"]
            ]
            if short:
                self.state[order_id] = "failed"
                return StockReservationFailedV1(
                    order_id=order_id,
                    shortages=tuple(
                        ShortageV1(sku=s["sku"], requested=s["quantity"], available=0)
                        for s in short
                    ),
                )
            for line in lines:
                self.reserved[line["sku"]] += line["quantity"]
            self.state[order_id] = "reserved"
            return StockReservedV1(order_id=order_id)
        if event_type == StockReleaseRequestedV1.event_type:
            if self.state.get(order_id) == "reserved":
                for line in lines:
                    self.reserved[line["sku"]] -= line["quantity"]
            self.state[order_id] = "released"
            return StockReleasedV1(order_id=order_id)
        if event_type == StockCommitRequestedV1.event_type:
            if self.state.get(order_id) == "reserved":
                for line in lines:
                    self.reserved[line["sku"]] -= line["quantity"]
                    self.on_hand[line["sku"]] -= line["quantity"]
            self.state[order_id] = "committed"
            return StockCommittedV1(order_id=order_id)
        assert event_type == StockReturnRequestedV1.event_type
        if self.state.get(order_id) != "returned":
            for line in lines:
                self.on_hand[line["sku"]] += line["quantity"]
        self.state[order_id] = "returned"
        return StockReturnedV1(order_id=order_id)


def _state() -> tuple:
    from extracted.orders.orders.models import Saga
    from extracted.orders.payments.models import Payment

    return (
        sorted(Saga.objects.values_list("pk", "step", "attempts")),
        sorted(Payment.objects.values_list("order_id", "status", "refund_failures")),
        OutboxMessage.objects.count(),
    )


def settle(catalog: FakeCatalog, *, rounds: int = 30) -> None:
    """Run the fleet in-process until nothing moves: payments, the catalog, the orders inbox."""
    for _ in range(rounds):
        before = _state()
        deliver("orders.payments")
        catalog.answer()
        deliver("orders")
        if _state() == before:
            return
    raise AssertionError("the saga did not settle")
