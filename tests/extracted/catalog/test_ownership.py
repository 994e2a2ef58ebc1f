"""Only the owner writes: the catalog service refuses writes until ownership.yaml names it."""

import pytest

from extracted.catalog.products.models import Category, Product
from servicekit.events.outbox.models import OutboxMessage
from tests.support.shapes import assert_problem

pytestmark = pytest.mark.django_db

BODY = {"sku": "MUG-9", "name": "Mug", "category": "kitchen", "price": "3.00", "on_hand": 4}


def test_writes_are_refused_while_the_monolith_owns_products(staff_client):
    Category.objects.create(slug="kitchen", name="Kitchen")
    response = staff_client.post("/api/v1/products/", BODY, format="json")
    # not a 409: the proxy chose this upstream, and its route follows ownership in a moment
    assert_problem(response, 503, "owner_moving")
    assert response["Retry-After"] == "1"
    assert response.json()["owner"] == "monolith"
    assert not Product.objects.exists()


def test_the_owner_writes_and_publishes(staff_client, catalog_owned):
    Category.objects.create(slug="kitchen", name="Kitchen")
    created = staff_client.post("/api/v1/products/", BODY, format="json")
    assert created.status_code == 201, created.content
    priced = staff_client.post("/api/v1/products/MUG-9/price/", {"price": "3.50"}, format="json")
    assert priced.json()["price"] == "3.50"
    counted = staff_client.put("/api/v1/products/MUG-9/inventory/", {"on_hand": 2}, format="json")
    assert counted.json()["available"] == 2

    events = list(
        OutboxMessage.objects.order_by("id").values_list("event_type", "origin", "sequence")
    )
    assert events == [
        ("catalog.product_created.v1", "catalog", 1),
        ("catalog.product_price_changed.v1", "catalog", 2),
        ("catalog.stock_changed.v2", "catalog", 3),
    ]


def test_customers_cannot_write(customer_client, catalog_owned):
    assert customer_client.post("/api/v1/products/", BODY, format="json").status_code == 403


def test_reads_are_public_with_the_monolith_shape(client, catalog_owned, staff_client):
    Category.objects.create(slug="kitchen", name="Kitchen")
    staff_client.post("/api/v1/products/", BODY, format="json")
    body = client.get("/api/v1/products/").json()
    assert body["count"] == 1
    assert set(body["results"][0]) == {
        "sku",
        "name",
        "description",
        "category",
        "price",
        "currency",
        "is_active",
        "stock",
        "created_at",
        "updated_at",
    }
    assert client.get("/healthz").json() == {"status": "ok"}
