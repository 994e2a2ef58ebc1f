from decimal import Decimal

import pytest

from monolith.catalog.models import Inventory
from monolith.notifications.models import Notification
from monolith.orders.models import Order
from servicekit.events.outbox.models import OutboxMessage
from tests.monolith.clients import bearer_client
from tests.monolith.factories import ProductFactory, UserFactory
from tests.support.events import deliver
from tests.support.shapes import assert_problem

pytestmark = pytest.mark.django_db


def place(client, lines, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post("/api/v1/orders/", {"lines": lines}, format="json", **headers)


def on_hand(product) -> int:
    return Inventory.objects.get(product=product).on_hand


def test_place_order_takes_stock_and_publishes(
    customer_client, customer, product, django_capture_on_commit_callbacks, mailoutbox
):
    other = ProductFactory(price=Decimal("2.50"))
    response = place(
        customer_client,
        [{"sku": product.sku, "quantity": 2}, {"sku": other.sku, "quantity": 4}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        deliver("monolith.notifications")  # the order events reach the notifications consumer

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending"
    assert body["total"] == "30.00"
    assert response["Location"] == f"/api/v1/orders/{body['id']}/"
    assert [(line["sku"], line["quantity"]) for line in body["lines"]] == sorted(
        [(product.sku, 2), (other.sku, 4)]
    )
    assert on_hand(product) == 3 and on_hand(other) == 6
    types = list(OutboxMessage.objects.order_by("id").values_list("event_type", flat=True))
    assert types.count("catalog.stock_changed.v1") == 2
    assert [t for t in types if t.startswith("orders.")] == ["orders.order_placed.v1"]
    # the notification is made after commit, and published while the monolith owns them
    assert types[-1] == "notifications.notification_created.v1"
    notification = Notification.objects.get(user=customer, order_id=body["id"])
    assert notification.kind == "order_placed"
    assert [m.to for m in mailoutbox] == [[customer.email]]


def test_duplicate_skus_are_merged(customer_client, product):
    response = place(
        customer_client, [{"sku": product.sku, "quantity": 1}, {"sku": product.sku, "quantity": 2}]
    )
    assert response.json()["lines"][0]["quantity"] == 3
    assert on_hand(product) == 2


def test_short_stock_is_409_naming_the_sku_and_changes_nothing(customer_client, product):
    plenty = ProductFactory(inventory__on_hand=100)
    response = place(
        customer_client, [{"sku": plenty.sku, "quantity": 1}, {"sku": product.sku, "quantity": 6}]
    )

    body = assert_problem(response, 409, "insufficient_stock")
    assert body["shortages"] == [{"sku": product.sku, "requested": 6, "available": 5}]
    assert on_hand(product) == 5 and on_hand(plenty) == 100
    assert not Order.objects.exists()
    assert not OutboxMessage.objects.filter(event_type__startswith="orders.").exists()


def test_reserved_units_are_not_for_sale(customer_client, product):
    Inventory.objects.filter(product=product).update(reserved=4)
    assert_problem(
        place(customer_client, [{"sku": product.sku, "quantity": 2}]), 409, "insufficient_stock"
    )


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([], "lines"),
        ([{"sku": "MUG-001", "quantity": 0}], "lines.0.quantity"),
        ([{"sku": "MUG-001"}], "lines.0.quantity"),
        ([{"sku": "MUG-001", "quantity": "many"}], "lines.0.quantity"),
        ("not-a-list", "lines"),
    ],
)
def test_bad_lines_are_400_naming_the_field(customer_client, product, lines, field):
    body = assert_problem(place(customer_client, lines), 400, "validation_error")
    assert field in [e["field"] for e in body["errors"]]


def test_unknown_sku_is_400(customer_client, product):
    body = assert_problem(
        place(customer_client, [{"sku": "GHOST", "quantity": 1}]), 400, "unknown_product"
    )
    assert body["skus"] == ["GHOST"]


def test_anonymous_cannot_order(anon_client, product):
    assert_problem(
        place(anon_client, [{"sku": product.sku, "quantity": 1}]), 401, "not_authenticated"
    )


def test_idempotency_key_makes_a_retry_safe(customer_client, product):
    first = place(customer_client, [{"sku": product.sku, "quantity": 2}], key="retry-me-1")
    second = place(customer_client, [{"sku": product.sku, "quantity": 2}], key="retry-me-1")

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert on_hand(product) == 3
    assert Order.objects.count() == 1


def test_idempotency_key_reused_with_another_body_is_422(customer_client, product):
    place(customer_client, [{"sku": product.sku, "quantity": 1}], key="k-1")
    response = place(customer_client, [{"sku": product.sku, "quantity": 2}], key="k-1")
    assert_problem(response, 422, "idempotency_key_reused")
    assert on_hand(product) == 4


def test_idempotency_keys_are_per_customer(customer_client, product):
    mine = place(customer_client, [{"sku": product.sku, "quantity": 1}], key="shared").json()["id"]
    theirs = place(
        bearer_client(UserFactory()), [{"sku": product.sku, "quantity": 1}], key="shared"
    )
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine
    assert "Idempotent-Replayed" not in theirs
    assert on_hand(product) == 3


def test_bad_idempotency_key_is_400(customer_client, product):
    body = assert_problem(
        place(customer_client, [{"sku": product.sku, "quantity": 1}], key="x" * 300),
        400,
        "validation_error",
    )
    assert body["errors"][0]["field"] == "Idempotency-Key"


def test_cancel_restocks_once_and_refuses_twice(customer_client, product):
    order_id = place(customer_client, [{"sku": product.sku, "quantity": 5}]).json()["id"]
    assert on_hand(product) == 0

    cancelled = customer_client.post(f"/api/v1/orders/{order_id}/cancel/", {}, format="json")
    assert cancelled.json()["status"] == "cancelled"
    assert on_hand(product) == 5
    again = customer_client.post(f"/api/v1/orders/{order_id}/cancel/", {}, format="json")
    assert_problem(again, 409, "illegal_transition")
    assert on_hand(product) == 5
    assert OutboxMessage.objects.filter(event_type="orders.order_cancelled.v1").count() == 1


def test_staff_transitions_follow_the_state_machine(customer_client, staff_client, product):
    order_id = place(customer_client, [{"sku": product.sku, "quantity": 1}]).json()["id"]
    url = f"/api/v1/orders/{order_id}/status/"

    assert_problem(
        customer_client.post(url, {"status": "confirmed"}, format="json"), 403, "permission_denied"
    )
    assert_problem(
        staff_client.post(url, {"status": "delivered"}, format="json"), 409, "illegal_transition"
    )
    for status in ("confirmed", "shipped", "delivered"):
        assert staff_client.post(url, {"status": status}, format="json").json()["status"] == status
    assert_problem(
        staff_client.post(url, {"status": "cancelled"}, format="json"), 409, "illegal_transition"
    )
    assert_problem(
        staff_client.post(url, {"status": "lost"}, format="json"), 400, "validation_error"
    )
    assert OutboxMessage.objects.filter(event_type="orders.order_confirmed.v1").count() == 1


def test_customers_see_only_their_orders(customer_client, product):
    stranger = bearer_client(UserFactory())
    theirs = place(stranger, [{"sku": product.sku, "quantity": 1}]).json()["id"]
    mine = place(customer_client, [{"sku": product.sku, "quantity": 1}]).json()["id"]

    listed = customer_client.get("/api/v1/orders/").json()
    assert [o["id"] for o in listed["results"]] == [mine]
    assert_problem(customer_client.get(f"/api/v1/orders/{theirs}/"), 404, "not_found")
    assert_problem(
        customer_client.post(f"/api/v1/orders/{theirs}/cancel/", {}, format="json"),
        404,
        "not_found",
    )


def test_staff_filter_orders_by_customer_and_status(
    staff_client, customer_client, customer, product
):
    place(customer_client, [{"sku": product.sku, "quantity": 1}])
    place(bearer_client(UserFactory()), [{"sku": product.sku, "quantity": 1}])
    assert staff_client.get("/api/v1/orders/").json()["count"] == 2
    assert staff_client.get("/api/v1/orders/", {"customer": customer.pk}).json()["count"] == 1
    assert staff_client.get("/api/v1/orders/", {"status": "cancelled"}).json()["count"] == 0
    assert_problem(staff_client.get("/api/v1/orders/", {"status": "lost"}), 400, "validation_error")


def test_order_history_query_count_does_not_grow(
    customer_client, product, django_assert_num_queries
):
    extra = ProductFactory(inventory__on_hand=100)
    place(customer_client, [{"sku": product.sku, "quantity": 1}, {"sku": extra.sku, "quantity": 1}])
    with django_assert_num_queries(4) as few:  # user, count, orders, lines
        customer_client.get("/api/v1/orders/")
    baseline = len(few.captured_queries)
    for _ in range(4):
        place(customer_client, [{"sku": extra.sku, "quantity": 2}])
    with django_assert_num_queries(baseline):
        customer_client.get("/api/v1/orders/")
