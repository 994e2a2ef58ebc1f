"""The checkout saga's stock commands in the catalog service: all-or-none, idempotent, owned."""

from __future__ import annotations

import pytest

from contracts.checkout import (
    StockCommitRequestedV1,
    StockLineV1,
    StockReleaseRequestedV1,
    StockReserveRequestedV1,
    StockReturnRequestedV1,
)
from extracted.catalog.products.models import Inventory
from extracted.catalog.stock.models import StockReservation
from servicekit.events.inbox.models import InboxParked
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import get_consumer
from servicekit.events.outbox.models import OutboxMessage
from servicekit.migration.ownership import ownership_set
from tests.extracted.catalog.builders import product_created
from tests.support.envelopes import envelope

pytestmark = pytest.mark.django_db


@pytest.fixture
def stock(catalog_owned):
    consumer = InboxProcessor(get_consumer("catalog"))
    consumer.process(
        [
            envelope(product_created("MUG-1", on_hand=10), origin="monolith", sequence=1),
            envelope(product_created("TEA-1", on_hand=2), origin="monolith", sequence=1),
        ]
    )
    return consumer


def levels() -> dict[str, tuple[int, int]]:
    return {
        i.product.sku: (i.on_hand, i.reserved) for i in Inventory.objects.select_related("product")
    }


def command(cls, order_id: int, *lines: tuple[str, int]):
    return envelope(
        cls(order_id=order_id, lines=tuple(StockLineV1(sku=s, quantity=q) for s, q in lines)),
        origin="orders",
    )


def replies() -> list[str]:
    return list(
        OutboxMessage.objects.filter(aggregate_type="reservation")
        .order_by("id")
        .values_list("event_type", flat=True)
    )


def test_reserve_commit_and_return(stock):
    stock.process([command(StockReserveRequestedV1, 1, ("MUG-1", 3), ("TEA-1", 1))])
    assert levels() == {"MUG-1": (10, 3), "TEA-1": (2, 1)}
    stock.process([command(StockCommitRequestedV1, 1, ("MUG-1", 3), ("TEA-1", 1))])
    assert levels() == {"MUG-1": (7, 0), "TEA-1": (1, 0)}
    stock.process([command(StockReturnRequestedV1, 1, ("MUG-1", 3), ("TEA-1", 1))])
    assert levels() == {"MUG-1": (10, 0), "TEA-1": (2, 0)}
    assert replies() == ["stock.reserved.v1", "stock.committed.v1", "stock.returned.v1"]
    # the monolith and the orders service follow stock through the usual events
    assert OutboxMessage.objects.filter(event_type="catalog.stock_changed.v2").count() == 6


def test_reserve_is_all_or_none_and_names_the_shortage(stock):
    stock.process([command(StockReserveRequestedV1, 2, ("MUG-1", 1), ("TEA-1", 5))])
    assert levels() == {"MUG-1": (10, 0), "TEA-1": (2, 0)}
    failed = OutboxMessage.objects.get(event_type="stock.reservation_failed.v1")
    assert failed.payload["shortages"] == [{"sku": "TEA-1", "requested": 5, "available": 2}]
    stock.process([command(StockReleaseRequestedV1, 2, ("MUG-1", 1), ("TEA-1", 5))])
    assert levels() == {"MUG-1": (10, 0), "TEA-1": (2, 0)}


def test_repeated_commands_do_not_move_stock_twice(stock):
    for _ in range(2):
        stock.process([command(StockReserveRequestedV1, 3, ("MUG-1", 4))])
    assert levels()["MUG-1"] == (10, 4)
    for _ in range(2):
        stock.process([command(StockReleaseRequestedV1, 3, ("MUG-1", 4))])
    assert levels()["MUG-1"] == (10, 0)
    assert StockReservation.objects.get(order_id=3).state == "released"
    assert replies() == ["stock.reserved.v1"] * 2 + ["stock.released.v1"] * 2


def test_returning_an_order_the_monolith_placed_restocks_from_the_command(stock):
    stock.process([command(StockReturnRequestedV1, 50, ("TEA-1", 2))])
    assert levels()["TEA-1"] == (4, 0)


def test_commands_wait_while_the_monolith_owns_inventory(catalog_owned, stock):
    ownership_set("inventory", "monolith")
    stock.process([command(StockReserveRequestedV1, 4, ("MUG-1", 1))])
    assert levels()["MUG-1"] == (10, 0)
    assert InboxParked.objects.filter(aggregate_type="checkout", aggregate_id="4").exists()
