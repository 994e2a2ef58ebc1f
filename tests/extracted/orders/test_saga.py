"""The checkout saga in-process: each path to `confirmed` or `cancelled`, and its compensation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from extracted.orders.orders.models import Order, Saga, SagaStep
from extracted.orders.orders.saga import saga_sweep
from extracted.orders.payments.models import Payment, PaymentStatus
from tests.extracted.orders.fakes import settle
from tests.support.shapes import assert_problem

pytestmark = pytest.mark.django_db


def place(client, *lines, behaviour: str = "", key: str | None = None, **headers):
    if behaviour:
        headers["HTTP_X_FAKE_PAYMENT"] = behaviour
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    body = {"lines": [{"sku": sku, "quantity": qty} for sku, qty in lines]}
    return client.post("/api/v1/orders/", body, format="json", **headers)


def expire_deadlines() -> None:
    Saga.objects.exclude(deadline=None).update(deadline=timezone.now() - timedelta(seconds=1))


def test_happy_path_reserves_pays_commits_and_confirms(customer, catalog):
    # when
    response = place(customer, ("MUG-1", 2), ("TEA-1", 1))
    # then: answered at once, pending, with somewhere to poll
    assert response.status_code == 201, response.content
    order = response.json()
    assert order["status"] == "pending" and order["total"] == "16.25"
    assert response["Location"] == f"/api/v1/orders/{order['id']}/"
    settle(catalog)
    assert customer.get(response["Location"]).json()["status"] == "confirmed"
    assert Saga.objects.get(pk=order["id"]).step == SagaStep.CONFIRMED
    assert Payment.objects.get(order_id=order["id"]).status == PaymentStatus.CAPTURED
    assert catalog.on_hand == {"MUG-1": 8, "TEA-1": 2}
    assert catalog.reserved == {"MUG-1": 0, "TEA-1": 0}


@pytest.mark.parametrize("behaviour", ["decline", "fail"])
def test_refused_payment_releases_the_stock_and_cancels(customer, catalog, behaviour):
    order = place(customer, ("MUG-1", 2), behaviour=behaviour).json()
    settle(catalog)
    assert Order.objects.get(pk=order["id"]).status == "cancelled"
    assert Saga.objects.get(pk=order["id"]).failure_reason == f"payment {behaviour}d".replace(
        "faild", "failed"
    )
    assert catalog.on_hand["MUG-1"] == 10 and catalog.reserved["MUG-1"] == 0
    assert Payment.objects.get(order_id=order["id"]).status != PaymentStatus.CAPTURED


def test_a_payment_that_hangs_times_out_refunds_releases_and_cancels(customer, catalog):
    order = place(customer, ("MUG-1", 1), behaviour="hang").json()
    settle(catalog)
    assert Saga.objects.get(pk=order["id"]).step == SagaStep.PAYING  # waiting, not stuck
    # when the step's deadline passes
    expire_deadlines()
    assert saga_sweep() == 1
    settle(catalog)
    # then
    saga = Saga.objects.get(pk=order["id"])
    assert (saga.step, saga.failure_reason) == (SagaStep.CANCELLED, "payment timed out")
    assert Order.objects.get(pk=order["id"]).status == "cancelled"
    assert Payment.objects.get(order_id=order["id"]).status == PaymentStatus.VOIDED
    assert catalog.reserved["MUG-1"] == 0


def test_a_catalog_that_never_answers_times_out_and_the_late_reservation_is_released(
    customer, catalog
):
    catalog.silent = True
    order = place(customer, ("MUG-1", 1)).json()
    settle(catalog)
    expire_deadlines()
    saga_sweep()
    catalog.silent = False  # it comes back: reserve, then release, in order
    settle(catalog)
    assert Order.objects.get(pk=order["id"]).status == "cancelled"
    assert catalog.state[order["id"]] == "released" and catalog.reserved["MUG-1"] == 0
    assert not Payment.objects.filter(order_id=order["id"]).exists()


def test_a_lost_race_in_the_catalog_cancels_with_the_shortage(customer, catalog):
    catalog.on_hand["TEA-1"] = 0  # the replica still says 3
    order = place(customer, ("TEA-1", 2)).json()
    settle(catalog)
    assert Order.objects.get(pk=order["id"]).status == "cancelled"
    assert Saga.objects.get(pk=order["id"]).failure_reason == "insufficient stock: TEA-1"


def test_customer_cancels_a_confirmed_order_refund_fails_once_then_stock_returns(customer, catalog):
    order = place(customer, ("MUG-1", 3), behaviour="succeed,refund-fails-once").json()
    settle(catalog)
    assert catalog.on_hand["MUG-1"] == 7
    # when
    response = customer.post(f"/api/v1/orders/{order['id']}/cancel/", {}, format="json")
    # then: cancelled at once; refund (retried), then restock behind it
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    settle(catalog)
    payment = Payment.objects.get(order_id=order["id"])
    assert (payment.status, payment.refund_failures) == (PaymentStatus.REFUNDED, 1)
    assert Saga.objects.get(pk=order["id"]).step == SagaStep.CANCELLED
    assert catalog.on_hand["MUG-1"] == 10


def test_customer_cancels_while_paying_hangs(customer, catalog):
    order = place(customer, ("MUG-1", 1), behaviour="hang").json()
    settle(catalog)
    customer.post(f"/api/v1/orders/{order['id']}/cancel/", {}, format="json")
    settle(catalog)
    assert Saga.objects.get(pk=order["id"]).step == SagaStep.CANCELLED
    assert catalog.reserved["MUG-1"] == 0 and catalog.on_hand["MUG-1"] == 10


def test_commit_that_times_out_is_asked_again_not_compensated(customer, catalog):
    order = place(customer, ("MUG-1", 1)).json()
    deliver_until_committing = 0
    while Saga.objects.get(pk=order["id"]).step != SagaStep.COMMITTING:
        from tests.support.events import deliver

        catalog.answer()
        deliver("orders.payments")
        deliver("orders")
        deliver_until_committing += 1
        assert deliver_until_committing < 10
    catalog.silent = True
    expire_deadlines()
    saga_sweep()
    assert Saga.objects.get(pk=order["id"]).attempts == 1
    catalog.silent = False
    settle(catalog)
    assert Order.objects.get(pk=order["id"]).status == "confirmed"
    assert catalog.on_hand["MUG-1"] == 9


def test_staff_cannot_confirm_what_the_saga_confirms(customer, staff, catalog):
    order = place(customer, ("MUG-1", 1), behaviour="hang").json()
    response = staff.post(
        f"/api/v1/orders/{order['id']}/status/", {"status": "confirmed"}, format="json"
    )
    assert_problem(response, 409, "saga_in_progress")


def test_staff_ship_and_deliver_after_confirmation(customer, staff, catalog):
    order = place(customer, ("MUG-1", 1)).json()
    settle(catalog)
    for status in ("shipped", "delivered"):
        response = staff.post(
            f"/api/v1/orders/{order['id']}/status/", {"status": status}, format="json"
        )
        assert response.json()["status"] == status
    illegal = staff.post(f"/api/v1/orders/{order['id']}/cancel/", {}, format="json")
    assert_problem(illegal, 409, "illegal_transition")
