"""The API keeps the monolith's shapes; idempotency across the split; the history read model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.orders import OrderCancelledV1, OrderLineV1, OrderPlacedV1
from extracted.orders.history.models import OrderHistory
from extracted.orders.orders.backfill import (
    BackfillReport,
    orders_pages_apply,
)
from extracted.orders.orders.models import Order
from servicekit.migration.ownership import ownership_set
from tests.extracted.orders.fakes import apply, settle
from tests.extracted.orders.test_saga import place
from tests.support.shapes import assert_problem

pytestmark = pytest.mark.django_db

SHAPE = {"id", "customer_id", "status", "total", "currency", "lines", "created_at", "updated_at"}


def test_order_shape_list_from_the_read_model_and_detail(customer, catalog):
    created = place(customer, ("MUG-1", 2)).json()
    assert set(created) == SHAPE
    assert created["lines"] == [
        {
            "sku": "MUG-1",
            "name": "Product MUG-1",
            "unit_price": "4.50",
            "quantity": 2,
            "line_total": "9.00",
        }
    ]
    settle(catalog)
    listed = customer.get("/api/v1/orders/").json()
    assert listed["count"] == 1
    row = listed["results"][0]
    assert {k: row[k] for k in SHAPE - {"created_at", "updated_at"}} == {
        **{k: created[k] for k in SHAPE - {"created_at", "updated_at"}},
        "status": "confirmed",
    }
    assert OrderHistory.objects.get(order_id=created["id"]).status == "confirmed"


def test_validation_and_obvious_shortage_answer_at_once_like_the_monolith(customer, catalog):
    unknown = place(customer, ("NOPE-1", 1))
    assert_problem(unknown, 400, "unknown_product")
    short = place(customer, ("TEA-1", 5))
    assert_problem(short, 409, "insufficient_stock")
    assert short.json()["shortages"] == [{"sku": "TEA-1", "requested": 5, "available": 3}]
    assert not Order.objects.exists()


def test_idempotency_key_replays_and_refuses_another_body(customer, catalog):
    first = place(customer, ("MUG-1", 1), key="k-1")
    again = place(customer, ("MUG-1", 1), key="k-1")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = place(customer, ("MUG-1", 2), key="k-1")
    assert_problem(other, 422, "idempotency_key_reused")


def test_prefer_wait_answers_with_the_outcome_when_settled(customer, catalog):
    response = place(customer, ("MUG-1", 1), HTTP_PREFER="wait=0.2")
    assert response["Preference-Applied"] == "wait=0.2"
    assert response.json()["status"] == "pending"  # nothing ran the saga meanwhile


def test_placing_needs_ownership(customer, catalog):
    ownership_set("order", "monolith")
    response = place(customer, ("MUG-1", 1))
    assert_problem(response, 503, "owner_moving")


def _export_row(order_id: int, *, key: str | None, sequence: int = 1, status="pending") -> dict:
    return {
        "id": order_id,
        "customer_id": 2,
        "status": status,
        "total": "9.00",
        "currency": "EUR",
        "lines": [
            {
                "sku": "MUG-1",
                "name": "Mug",
                "unit_price": "4.50",
                "quantity": 2,
                "line_total": "9.00",
            }
        ],
        "idempotency_key": key,
        "request_fingerprint": __import__(
            "extracted.orders.orders.services", fromlist=["fingerprint"]
        ).fingerprint({"MUG-1": 2}),
        "created_at": "2026-01-01T10:00:00+00:00",
        "updated_at": "2026-01-01T10:00:00+00:00",
        "sequence": sequence,
    }


def test_a_key_made_in_the_monolith_replays_here_after_the_backfill(customer, catalog):
    # given the monolith's order 41, placed with a key before the split
    report = BackfillReport()
    list(orders_pages_apply([{"orders": [_export_row(41, key="mono-key")]}], report))
    assert (report.orders, report.keys) == (1, 1)
    # when the client retries through the flipped route
    replay = place(customer, ("MUG-1", 2), key="mono-key")
    # then it gets the monolith's order, not a second one
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == 41 and Order.objects.count() == 1
    assert customer.get("/api/v1/orders/").json()["results"][0]["id"] == 41
    # and new orders get ids above the copies
    assert place(customer, ("MUG-1", 1)).json()["id"] > 41


def test_live_monolith_events_after_the_backfill_are_applied_once(customer, catalog):
    list(orders_pages_apply([{"orders": [_export_row(7, key=None, sequence=1)]}], BackfillReport()))
    # the live stream redelivers sequence 1 (skipped), then the monolith cancels it (2)
    placed = OrderPlacedV1(
        order_id=7,
        customer_id=2,
        lines=(OrderLineV1(sku="MUG-1", name="Mug", quantity=2, unit_price="4.50"),),
        total="9.00",
        currency="EUR",
        status="pending",
    )
    apply(placed, OrderCancelledV1(order_id=7, customer_id=2, reason="x"), origin="monolith")
    assert Order.objects.get(pk=7).status == "cancelled"
    assert OrderHistory.objects.get(order_id=7).status == "cancelled"
    assert OrderHistory.objects.get(order_id=7).created_at == datetime(2026, 1, 1, 10, tzinfo=UTC)


def test_new_orders_follow_the_ids_the_mirror_copied(customer, catalog):
    """The monolith's orders reach this service through its live stream alone (no backfill,
    no takeover: what a fleet `plan.py goto 08` moved on has): its first own order still gets
    an id above theirs. On PostgreSQL the id sequence does not move on explicit ids by itself."""
    # given the monolith's orders 51 and 52, copied from its events while it owned orders
    for order_id in (51, 52):
        placed = OrderPlacedV1(
            order_id=order_id,
            customer_id=2,
            lines=(OrderLineV1(sku="MUG-1", name="Mug", quantity=1, unit_price="4.50"),),
            total="4.50",
            currency="EUR",
            status="pending",
        )
        apply(placed, origin="monolith")
    assert set(Order.objects.values_list("pk", flat=True)) == {51, 52}
    # when the service, now the owner, places its own orders
    first = place(customer, ("MUG-1", 1))
    second = place(customer, ("MUG-1", 1))
    # then they are new rows with new ids, not a collision with a copy
    assert (first.status_code, second.status_code) == (201, 201), first.content
    assert 52 < first.json()["id"] < second.json()["id"]
    assert Order.objects.count() == 4


def test_cancelling_a_monolith_order_returns_its_stock(customer, catalog):
    list(orders_pages_apply([{"orders": [_export_row(9, key=None)]}], BackfillReport()))
    response = customer.post("/api/v1/orders/9/cancel/", {}, format="json")
    assert response.json()["status"] == "cancelled"
    settle(catalog)
    assert catalog.on_hand["MUG-1"] == 12  # the monolith had taken 2: they come back
