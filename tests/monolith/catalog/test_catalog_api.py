from decimal import Decimal

import pytest

from monolith.catalog.models import Inventory, PriceChange, Product
from servicekit.events.outbox.models import OutboxMessage
from tests.monolith.factories import CategoryFactory, ProductFactory
from tests.support.shapes import assert_problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def shelf(db):
    books, toys = CategoryFactory(slug="books"), CategoryFactory(slug="toys")
    return [
        ProductFactory(sku="BOO-1", name="Red book", category=books, price=Decimal("5.00")),
        ProductFactory(sku="BOO-2", name="Blue book", category=books, price=Decimal("15.00")),
        ProductFactory(
            sku="TOY-1",
            name="Red kite",
            category=toys,
            price=Decimal("25.00"),
            inventory__on_hand=0,
        ),
        ProductFactory(
            sku="TOY-2", name="Old yoyo", category=toys, price=Decimal("1.00"), is_active=False
        ),
    ]


def skus(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [p["sku"] for p in response.json()["results"]]


def test_list_is_public_paginated_and_hides_inactive(anon_client, shelf):
    response = anon_client.get("/api/v1/products/", {"page_size": 2})
    body = response.json()
    assert body["count"] == 3
    assert skus(response) == ["BOO-1", "BOO-2"]
    assert body["next"].endswith("page=2&page_size=2")
    first = body["results"][0]
    assert first["price"] == "5.00" and first["currency"] == "EUR"
    assert first["category"] == {"slug": "books", "name": "Books"}
    assert first["stock"] == {"available": 10, "in_stock": True}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"category": "books"}, ["BOO-1", "BOO-2"]),
        ({"q": "red"}, ["BOO-1", "TOY-1"]),
        ({"min_price": "10", "max_price": "20"}, ["BOO-2"]),
        ({"in_stock": "false"}, ["TOY-1"]),
        ({"ordering": "-price"}, ["TOY-1", "BOO-2", "BOO-1"]),
        ({"ordering": "name"}, ["BOO-2", "BOO-1", "TOY-1"]),
    ],
)
def test_list_filters_search_and_ordering(anon_client, shelf, params, expected):
    assert skus(anon_client.get("/api/v1/products/", params)) == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_price": "cheap"}, "min_price"),
        ({"min_price": "9", "max_price": "1"}, "min_price"),
        ({"ordering": "secret_column"}, "ordering"),
        ({"page_size": "1000"}, "page_size"),
        ({"in_stock": "maybe"}, "in_stock"),
    ],
)
def test_list_refuses_bad_query_parameters_naming_them(anon_client, shelf, params, field):
    body = assert_problem(anon_client.get("/api/v1/products/", params), 400, "validation_error")
    assert field in {e["field"] for e in body["errors"]}


def test_staff_see_inactive_products(staff_client, shelf):
    assert "TOY-2" in skus(staff_client.get("/api/v1/products/"))
    assert staff_client.get("/api/v1/products/TOY-2/").status_code == 200


def test_detail_by_sku_and_404_problem(anon_client, shelf):
    assert anon_client.get("/api/v1/products/BOO-1/").json()["name"] == "Red book"
    assert_problem(anon_client.get("/api/v1/products/TOY-2/"), 404, "not_found")
    assert_problem(anon_client.get("/api/v1/products/NOPE/"), 404, "not_found")


def test_list_query_count_does_not_grow_with_products(anon_client, django_assert_num_queries):
    ProductFactory.create_batch(3)
    with django_assert_num_queries(2) as few:
        anon_client.get("/api/v1/products/")
    baseline = len(few.captured_queries)
    ProductFactory.create_batch(20)
    with django_assert_num_queries(baseline):
        anon_client.get("/api/v1/products/", {"page_size": 50})


def test_create_is_staff_only(customer_client, anon_client):
    CategoryFactory(slug="books")
    body = {"sku": "BOO-9", "name": "New", "category": "books", "price": "9.99"}
    assert_problem(
        anon_client.post("/api/v1/products/", body, format="json"), 401, "not_authenticated"
    )
    assert_problem(
        customer_client.post("/api/v1/products/", body, format="json"), 403, "permission_denied"
    )
    assert not Product.objects.exists()


def test_staff_create_product_with_stock_emits_product_created(staff_client):
    CategoryFactory(slug="books")
    body = {"sku": "BOO-9", "name": "New", "category": "books", "price": "9.99", "on_hand": 7}
    response = staff_client.post("/api/v1/products/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["stock"]["available"] == 7
    event = OutboxMessage.objects.get(event_type="catalog.product_created.v1")
    assert event.payload["sku"] == "BOO-9" and event.payload["price"] == "9.99"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sku": "lower-case"}, "sku"),
        ({"price": "-1"}, "price"),
        ({"price": "1.999"}, "price"),
        ({"currency": "euro"}, "currency"),
        ({"name": ""}, "name"),
    ],
)
def test_create_refuses_bad_fields(staff_client, overrides, field):
    CategoryFactory(slug="books")
    body = {"sku": "BOO-9", "name": "New", "category": "books", "price": "9.99", **overrides}
    problem = assert_problem(
        staff_client.post("/api/v1/products/", body, format="json"), 400, "validation_error"
    )
    assert [e["field"] for e in problem["errors"]] == [field]


def test_create_refuses_unknown_category(staff_client):
    body = {"sku": "BOO-9", "name": "New", "category": "nowhere", "price": "9.99"}
    assert_problem(
        staff_client.post("/api/v1/products/", body, format="json"), 400, "unknown_category"
    )


def test_price_change_is_recorded_and_published(staff_client, staff, product):
    response = staff_client.post(
        f"/api/v1/products/{product.sku}/price/", {"price": "12.50"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["price"] == "12.50"
    change = PriceChange.objects.get()
    assert (change.old_price, change.new_price, change.changed_by) == (
        Decimal("10.00"),
        Decimal("12.50"),
        staff,
    )
    event = OutboxMessage.objects.get(event_type="catalog.product_price_changed.v1")
    assert event.payload == {
        "sku": product.sku,
        "old_price": "10.00",
        "new_price": "12.50",
        "currency": "EUR",
    }
    history = staff_client.get(f"/api/v1/products/{product.sku}/price/").json()
    assert history[0]["new_price"] == "12.50"


def test_patch_product_emits_product_updated(staff_client, product):
    response = staff_client.patch(
        f"/api/v1/products/{product.sku}/", {"name": "Green mug"}, format="json"
    )
    assert response.json()["name"] == "Green mug"
    assert OutboxMessage.objects.filter(event_type="catalog.product_updated.v1").count() == 1


def test_inventory_count_sets_levels_and_refuses_reserved_above_on_hand(staff_client, product):
    url = f"/api/v1/products/{product.sku}/inventory/"
    assert staff_client.put(url, {"on_hand": 3, "reserved": 1}, format="json").json() == {
        "sku": product.sku,
        "on_hand": 3,
        "reserved": 1,
        "available": 2,
    }
    assert_problem(
        staff_client.put(url, {"on_hand": 1, "reserved": 2}, format="json"),
        400,
        "reserved_exceeds_on_hand",
    )
    assert Inventory.objects.get(product=product).on_hand == 3
    assert OutboxMessage.objects.filter(event_type="catalog.stock_changed.v1").count() == 1


def test_categories_are_public(anon_client, shelf):
    assert [c["slug"] for c in anon_client.get("/api/v1/categories/").json()] == ["books", "toys"]
