"""An order whose transaction PostgreSQL aborted to break a deadlock is placed again.

`make load` met it on PostgreSQL: an order's commit-time foreign-key check on a product row
waited on a catalog mirror update holding that row, which waited on the inventory row the order
had taken; PostgreSQL aborted the order (SQLSTATE 40P01) and the client got a 500."""

from __future__ import annotations

import pytest
from django.db import OperationalError, transaction

from monolith.orders import services
from monolith.orders.models import Order
from monolith.orders.services import OrderLineIn, order_place
from servicekit.web.service_errors import TransactionConflict
from tests.monolith.factories import ProductFactory, UserFactory
from tests.support.shapes import assert_problem

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class _PgError(Exception):
    def __init__(self, sqlstate: str):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _failing_first(monkeypatch, sqlstate: str, times: int = 1) -> list[int]:
    """`_order_create` raising Django's OperationalError (from a driver error with `sqlstate`)
    its first `times` calls; the list counts every call."""
    real = services._order_create
    calls: list[int] = []

    def create(**kwargs):
        calls.append(1)
        if len(calls) <= times:
            try:
                raise _PgError(sqlstate)
            except _PgError as cause:
                raise OperationalError("deadlock detected") from cause
        return real(**kwargs)

    monkeypatch.setattr(services, "_order_create", create)
    return calls


def test_a_deadlocked_order_is_placed_again_once(monkeypatch):
    product = ProductFactory(inventory__on_hand=5)
    calls = _failing_first(monkeypatch, "40P01")
    order, created = order_place(customer=UserFactory(), lines=[OrderLineIn(product.sku, 2)])
    assert created and len(calls) == 2
    assert list(Order.objects.values_list("pk", flat=True)) == [order.pk]
    product.inventory.refresh_from_db()
    assert product.inventory.on_hand == 3  # taken once


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])  # deadlock, serialization failure
def test_a_conflict_that_keeps_coming_is_refused_as_one(monkeypatch, sqlstate):
    product = ProductFactory(inventory__on_hand=5)
    calls = _failing_first(monkeypatch, sqlstate, times=99)
    with pytest.raises(TransactionConflict) as refused:
        order_place(customer=UserFactory(), lines=[OrderLineIn(product.sku, 1)])
    assert refused.value.details == {"sqlstate": sqlstate}
    assert isinstance(refused.value.__cause__, OperationalError)
    assert len(calls) == services.DEADLOCK_RETRIES + 1
    assert Order.objects.count() == 0


def test_another_database_error_is_not_retried(monkeypatch):
    product = ProductFactory(inventory__on_hand=5)
    calls = _failing_first(monkeypatch, "57P01")  # admin_shutdown
    with pytest.raises(OperationalError):
        order_place(customer=UserFactory(), lines=[OrderLineIn(product.sku, 1)])
    assert len(calls) == 1


def test_inside_a_callers_transaction_a_deadlock_is_not_retried(monkeypatch):
    product = ProductFactory(inventory__on_hand=5)
    customer = UserFactory()
    calls = _failing_first(monkeypatch, "40P01")
    with pytest.raises(OperationalError), transaction.atomic():
        order_place(customer=customer, lines=[OrderLineIn(product.sku, 1)])
    assert len(calls) == 1  # the caller's own work was aborted too: its to decide


def test_a_deadlock_that_keeps_coming_is_a_503_the_client_can_send_again(
    monkeypatch, customer_client
):
    product = ProductFactory(inventory__on_hand=5)
    _failing_first(monkeypatch, "40P01", times=99)
    response = customer_client.post(
        "/api/v1/orders/", {"lines": [{"sku": product.sku, "quantity": 1}]}, format="json"
    )
    assert_problem(response, 503, "transaction_conflict")
    assert response["Retry-After"] == "1"
    assert Order.objects.count() == 0
    product.inventory.refresh_from_db()
    assert product.inventory.on_hand == 5

    monkeypatch.undo()  # the conflict is gone: the same request places the order
    response = customer_client.post(
        "/api/v1/orders/", {"lines": [{"sku": product.sku, "quantity": 1}]}, format="json"
    )
    assert response.status_code == 201, response.content
