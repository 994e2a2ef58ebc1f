"""While the orders service owns `order`, the monolith mirrors its orders (monolith.orders), so
handing orders back (chapter 07's rollback) loses none: applied once, in order, never echoed."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management.base import CommandError

from contracts.orders import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderLineV1,
    OrderPlacedV1,
    OrderStatusChangedV1,
)
from monolith.catalog.models import Inventory
from monolith.orders.handback import orders_pages_apply
from monolith.orders.management.commands.orders_takeover import Command as OrdersTakeover
from monolith.orders.models import Order
from servicekit.events.inbox.models import InboxCursor, InboxParked
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import get_consumer
from servicekit.events.outbox.models import AggregateSequence, OutboxMessage
from servicekit.migration.handover import Stream, rows_behind
from servicekit.migration.ownership import ownership_set
from tests.support.envelopes import envelope, sequences_reset

pytestmark = pytest.mark.django_db
PLACED_AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def orders_service_owns_orders(settings, tmp_path):
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")
    ownership_set("order", "orders")
    sequences_reset()


def placed(order_id, customer, product, quantity=2):
    return OrderPlacedV1(
        order_id=order_id,
        customer_id=customer.pk,
        lines=(
            OrderLineV1(sku=product.sku, name="Blue mug", quantity=quantity, unit_price="10.00"),
        ),
        total=str(Decimal("10.00") * quantity),
        currency="EUR",
        status="pending",
    )


def consume(*envelopes):
    InboxProcessor(get_consumer("monolith.orders")).process(list(envelopes))


def test_an_order_placed_on_the_service_is_readable_here_with_its_lines(
    customer, customer_client, product
):
    # given the service placed order 501 and moved it along
    consume(
        envelope(placed(501, customer, product), origin="orders", occurred_at=PLACED_AT),
        envelope(OrderConfirmedV1(order_id=501, customer_id=customer.pk), origin="orders"),
        envelope(
            OrderStatusChangedV1(order_id=501, customer_id=customer.pk, status="shipped"),
            origin="orders",
        ),
    )
    # then the monolith answers for it like for its own
    detail = customer_client.get("/api/v1/orders/501/").json()
    assert detail["status"] == "shipped" and detail["total"] == "20.00"
    assert [(line["sku"], line["quantity"], line["unit_price"]) for line in detail["lines"]] == [
        (product.sku, 2, "10.00")
    ]
    assert detail["created_at"].startswith("2026-03-01T09:30")
    assert [o["id"] for o in customer_client.get("/api/v1/orders/").json()["results"]] == [501]
    # no stock moved here (the catalog's own events bring that) and nothing was sent back
    assert Inventory.objects.get(product=product).on_hand == 5
    assert OutboxMessage.objects.count() == 0
    # the monolith's sequence follows the service's: its next event about 501 is the 4th
    assert (
        AggregateSequence.objects.get(aggregate_type="order", aggregate_id="501").last_sequence == 3
    )


def test_a_redelivered_event_is_applied_once(customer, product):
    first = envelope(placed(502, customer, product), origin="orders")
    cancelled = envelope(
        OrderCancelledV1(order_id=502, customer_id=customer.pk, reason="x"), origin="orders"
    )
    consume(first, cancelled)
    consume(first)  # the broker delivers the placement again: it must not revive the order
    order = Order.objects.get(pk=502)
    assert order.status == "cancelled" and order.lines.count() == 1


def test_events_out_of_order_wait_for_their_predecessor(customer, product):
    placement = envelope(placed(503, customer, product), origin="orders")
    confirmed = envelope(OrderConfirmedV1(order_id=503, customer_id=customer.pk), origin="orders")
    consume(confirmed)  # sequence 2 first: parked, nothing to confirm yet
    assert not Order.objects.filter(pk=503).exists()
    assert InboxParked.objects.filter(consumer="monolith.orders").count() == 1
    consume(placement)
    assert Order.objects.get(pk=503).status == "confirmed"


def test_the_monolith_own_order_events_do_not_bounce_back(
    customer, customer_client, staff_client, product
):
    # given the monolith owns orders: a customer places one, staff confirm and ship it
    ownership_set("order", "monolith")
    order_id = customer_client.post(
        "/api/v1/orders/", {"lines": [{"sku": product.sku, "quantity": 1}]}, format="json"
    ).json()["id"]
    for status in ("confirmed", "shipped"):
        staff_client.post(f"/api/v1/orders/{order_id}/status/", {"status": status}, format="json")
    # when its own placement and confirmation come back on the monolith.orders queue
    own = OutboxMessage.objects.filter(event_type__startswith="orders.").order_by("id")
    consume(*[row.to_envelope() for row in own[:2]])
    # then they are skipped (the cursor moves on): the order stays shipped, nothing is re-sent
    assert Order.objects.get(pk=order_id).status == "shipped"
    cursor = InboxCursor.objects.get(consumer="monolith.orders", aggregate_id=str(order_id))
    assert cursor.last_sequence == 2
    assert OutboxMessage.objects.filter(event_type__startswith="orders.").count() == 3


def test_after_the_hand_back_the_monolith_cancels_a_service_order_and_continues_its_stream(
    customer, customer_client, product
):
    consume(
        envelope(placed(504, customer, product), origin="orders"),
        envelope(OrderConfirmedV1(order_id=504, customer_id=customer.pk), origin="orders"),
    )
    ownership_set("order", "monolith")
    ownership_set("inventory", "monolith")
    response = customer_client.post("/api/v1/orders/504/cancel/", {}, format="json")
    assert response.json()["status"] == "cancelled"
    assert Inventory.objects.get(product=product).on_hand == 7  # the 2 units come back
    cancelled = OutboxMessage.objects.get(event_type="orders.order_cancelled.v1")
    assert (cancelled.aggregate_id, cancelled.sequence) == ("504", 3)
    # and a new order here gets an id above every copied one
    new = customer_client.post(
        "/api/v1/orders/", {"lines": [{"sku": product.sku, "quantity": 1}]}, format="json"
    )
    assert new.json()["id"] > 504


def export_row(order_id, customer, product, *, sequence, key=None, checkout=None):
    return {
        "id": order_id,
        "customer_id": customer.pk,
        "status": "confirmed",
        "total": "10.00",
        "currency": "EUR",
        "lines": [
            {
                "sku": product.sku,
                "name": "Blue mug",
                "unit_price": "10.00",
                "quantity": 1,
                "line_total": "10.00",
            }
        ],
        "idempotency_key": key,
        "request_fingerprint": "f" * 64 if key else "",
        "created_at": "2026-03-01T09:30:00+00:00",
        "updated_at": "2026-03-01T09:31:00+00:00",
        "sequence": sequence,
        "checkout": checkout,
    }


def behind(pages):
    return rows_behind(
        pages, consumer="monolith.orders", streams=[Stream("orders", "order", "aggregate_id")]
    )


def test_the_drain_applies_rows_the_stream_never_brought_and_copies_their_keys(
    customer, customer_client, product
):
    # given order 601 was placed on the service with a key; its events never reached us
    from monolith.orders.services import fingerprint

    row = export_row(601, customer, product, sequence=2, key="first-on-the-service")
    row["request_fingerprint"] = fingerprint({product.sku: 1})
    # when the hand-back's drain reads the service's export
    assert behind(orders_pages_apply([{"orders": [row], "next_after": None}])) == 0
    # then the order is here, and after the flip its key replays it, not a new order
    assert Order.objects.get(pk=601).status == "confirmed"
    ownership_set("order", "monolith")
    replay = customer_client.post(
        "/api/v1/orders/",
        {"lines": [{"sku": product.sku, "quantity": 1}]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="first-on-the-service",
    )
    assert replay["Idempotent-Replayed"] == "true" and replay.json()["id"] == 601
    assert Order.objects.count() == 1


def test_the_drain_keeps_live_events_newer_than_the_export(customer, product):
    consume(
        envelope(placed(602, customer, product, quantity=1), origin="orders"),
        envelope(OrderConfirmedV1(order_id=602, customer_id=customer.pk), origin="orders"),
        envelope(
            OrderStatusChangedV1(order_id=602, customer_id=customer.pk, status="shipped"),
            origin="orders",
        ),
    )
    stale = export_row(602, customer, product, sequence=2)  # read before it shipped
    list(orders_pages_apply([{"orders": [stale], "next_after": None}]))
    assert Order.objects.get(pk=602).status == "shipped"


def test_a_running_checkout_holds_the_drain_and_refuses_the_start(customer, product):
    running = export_row(603, customer, product, sequence=1, checkout="paying")
    pages = [{"orders": [running], "next_after": None}]
    # the snapshot is applied, yet the row does not count as caught up while it runs
    assert behind(orders_pages_apply([{"orders": [dict(running)], "next_after": None}])) == 1
    with pytest.raises(CommandError, match=r"1 checkouts still running: orders 603 \(paying\)"):
        OrdersTakeover().check_source(pages)
    settled = export_row(603, customer, product, sequence=2)
    assert behind(orders_pages_apply([{"orders": [settled], "next_after": None}])) == 0


def test_an_order_of_a_customer_not_mirrored_yet_waits_for_the_account(customer, product):
    from monolith.users.models import User

    stranger = User(pk=9001)  # made in the users service; its account event is still on its way
    consume(envelope(placed(505, stranger, product), origin="orders"))
    assert not Order.objects.filter(pk=505).exists()
    parked = InboxParked.objects.get(consumer="monolith.orders", aggregate_id="505")
    assert "customer 9001 not mirrored yet" in parked.last_error


def test_stock_comes_back_only_after_the_orders(settings):
    from django.core.management import call_command

    # the orders service owns orders (the fixture): its checkout reserves stock in the catalog
    with pytest.raises(CommandError, match="hand orders back first"):
        call_command("inventory_takeover", "--source", "http://127.0.0.1:9", "--token", "t")


def test_a_repair_rewrites_drifted_lines_and_leaves_matching_ones(customer, product):
    from monolith.orders.services import order_apply_snapshot

    consume(envelope(placed(506, customer, product), origin="orders"))
    line_ids = list(Order.objects.get(pk=506).lines.values_list("id", flat=True))
    snapshot = {
        "order_id": 506,
        "customer_id": customer.pk,
        "status": "pending",
        "total": "20.00",
        "currency": "EUR",
        "created_at": PLACED_AT,
        "lines": [{"sku": product.sku, "name": "Blue mug", "unit_price": "10.00", "quantity": 2}],
    }
    order_apply_snapshot(**snapshot)  # the same order again: nothing rewritten
    assert list(Order.objects.get(pk=506).lines.values_list("id", flat=True)) == line_ids
    Order.objects.get(pk=506).lines.update(quantity=9)  # drift
    order_apply_snapshot(**snapshot)
    assert list(Order.objects.get(pk=506).lines.values_list("quantity", flat=True)) == [2]
