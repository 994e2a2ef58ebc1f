"""Stock never goes negative when customers race for the last units (real PostgreSQL)."""

import threading

import pytest
from django.db import close_old_connections, connection

from monolith.catalog.models import Inventory
from monolith.orders.models import Order
from monolith.orders.services import OrderLineIn, order_place
from servicekit.web.errors import ApplicationError
from tests.monolith.factories import ProductFactory, UserFactory
from tests.support.backends import require_or_skip

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _race(buyers, lines_for, key_for=lambda i: None):
    barrier = threading.Barrier(len(buyers))
    outcomes: list[str] = []
    lock = threading.Lock()

    def buy(index, user):
        try:
            barrier.wait(timeout=30)
            order_place(customer=user, lines=lines_for(index), idempotency_key=key_for(index))
            result = "placed"
        except ApplicationError as exc:
            result = exc.code
        finally:
            close_old_connections()
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=buy, args=(i, u)) for i, u in enumerate(buyers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == len(buyers), "a buyer thread hung"
    return outcomes


def test_concurrent_orders_never_oversell():
    if connection.vendor != "postgresql":
        require_or_skip("postgres", "needs row-level concurrency of a real server")
    # given: 3 units, 8 customers each wanting 1, plus a second product in every basket
    scarce = ProductFactory(inventory__on_hand=3)
    plenty = ProductFactory(inventory__on_hand=1000)
    buyers = UserFactory.create_batch(8)

    # when
    outcomes = _race(
        buyers,
        # half the baskets list the products in the other order: no deadlock either way
        lambda i: [OrderLineIn(scarce.sku, 1), OrderLineIn(plenty.sku, 1)][:: 1 if i % 2 else -1],
    )

    # then
    assert sorted(outcomes) == ["insufficient_stock"] * 5 + ["placed"] * 3
    assert Inventory.objects.get(product=scarce).on_hand == 0
    assert Inventory.objects.get(product=plenty).on_hand == 997
    assert Order.objects.count() == 3


def test_concurrent_retries_with_one_idempotency_key_place_one_order():
    if connection.vendor != "postgresql":
        require_or_skip("postgres", "needs concurrent transactions of a real server")
    product = ProductFactory(inventory__on_hand=10)
    user = UserFactory()

    outcomes = _race(
        [user] * 6, lambda i: [OrderLineIn(product.sku, 2)], key_for=lambda i: "same-key"
    )

    assert outcomes == ["placed"] * 6  # every retry gets the order back, none fails
    assert Order.objects.count() == 1
    assert Inventory.objects.get(product=product).on_hand == 8
