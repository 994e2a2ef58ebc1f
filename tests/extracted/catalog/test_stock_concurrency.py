"""Concurrent appends to one sku's stock stream, from real threads with their own database
connections: PostgreSQL only (SQLite serializes writers; the stale-version case runs on both
backends in test_stock_event_store.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction

from extracted.catalog.products import services as product_services
from extracted.catalog.products.models import Inventory
from extracted.catalog.stock.aggregate import StockState, reserved
from extracted.catalog.stock.eventstore import (
    StockConcurrencyError,
    stock_append,
    stock_change,
    stock_load,
)
from extracted.catalog.stock.models import StockEvent

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL"
    ),
]

THREADS = 6


@pytest.fixture(autouse=True)
def pool_for_every_thread():
    """THREADS transactions open at once in this process: its pool (2 connections, as a
    service process has) made big enough for them, and put back after. Each thread holds its
    connection while it waits for the others, so a smaller pool would leave some waiting
    until the pool's timeout."""
    pool = connection.pool
    if pool is None:
        yield
        return
    before = (pool.min_size, pool.max_size)
    pool.resize(min_size=before[0], max_size=max(before[1], THREADS + 1))
    try:
        yield
    finally:
        pool.resize(*before)


@pytest.fixture
def mug(catalog_owned):
    product_services.category_create(slug="kitchen", name="Kitchen")
    product_services.product_create(
        sku="MUG-1", name="Mug", category="kitchen", price=Decimal("2.00"), on_hand=100
    )
    return "MUG-1"


def in_threads(work: Callable[[int], object]) -> list[object]:
    """Run `work(n)` in THREADS threads at once; each result, or the exception it raised."""
    results: list[object] = [None] * THREADS

    def run(n: int) -> None:
        try:
            results[n] = work(n)
        except Exception as error:
            results[n] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_appends_at_the_same_expected_version_conflict_and_exactly_one_wins(mug):
    read_together = threading.Barrier(THREADS, timeout=30)

    def append(n: int):
        with transaction.atomic():
            loaded = stock_load(mug)
            read_together.wait()  # every writer has read version 1 before any appends
            return stock_append(loaded, [reserved(1, order_id=n)])

    results = in_threads(append)
    won = [r for r in results if not isinstance(r, Exception)]
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(won) == 1, results
    assert all(isinstance(r, StockConcurrencyError) for r in lost), lost
    assert list(StockEvent.objects.filter(aggregate_id=mug).values_list("version", flat=True)) == [
        1,
        2,
    ]


def test_concurrent_changes_retry_and_none_is_lost(mug):
    start = threading.Barrier(THREADS, timeout=30)

    def reserve(n: int):
        start.wait()
        return stock_change(
            sku=mug,
            decide=lambda state: [reserved(2, order_id=n)],
            reason="test",
            attempts=THREADS + 1,  # a writer can lose to each of the others once
        )

    results = in_threads(reserve)
    assert not [r for r in results if isinstance(r, Exception)], results
    versions = list(StockEvent.objects.filter(aggregate_id=mug).values_list("version", flat=True))
    assert versions == list(range(1, THREADS + 2))  # opening + one per writer, no gap
    expected = StockState(on_hand=100, reserved=2 * THREADS)
    assert stock_load(mug, use_snapshot=False).state == expected
    inventory = Inventory.objects.get(product__sku=mug)
    assert StockState(inventory.on_hand, inventory.reserved) == expected
