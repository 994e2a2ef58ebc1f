"""The GraphQL read API answers what the REST read API answers, in a fixed number of queries."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.extracted.catalog.builders import catalog_rows
from tests.extracted.catalog.graphql_client import operation, post

pytestmark = pytest.mark.django_db


def rest_product(row: dict) -> dict:
    """A REST product in the GraphQL operation's shape (its fields, camel-cased)."""
    return {
        "sku": row["sku"],
        "name": row["name"],
        "description": row["description"],
        "price": row["price"],
        "currency": row["currency"],
        "category": row["category"],
        "stock": {"available": row["stock"]["available"], "inStock": row["stock"]["in_stock"]},
    }


def test_a_product_page_equals_the_rest_page(client):
    # given: 25 active products over 3 categories, and 2 inactive ones nobody public sees
    catalog_rows(25, categories=3, inactive=2)
    rest = APIClient()
    for category, page in (("", 1), ("", 3), ("kind-1", 1), ("kind-2", 2)):
        # when
        answer = post(
            client,
            operation("ProductList"),
            {"category": category, "page": page, "pageSize": 4},
        ).json()
        expected = rest.get(
            "/api/v1/products/", {"category": category, "page": page, "page_size": 4}
        ).json()
        # then
        assert "errors" not in answer, answer
        products = answer["data"]["products"]
        assert products["count"] == expected["count"]
        assert products["results"] == [rest_product(row) for row in expected["results"]]


def test_a_product_by_sku_equals_the_rest_detail(client):
    skus = catalog_rows(3, inactive=1)
    answer = post(client, operation("Product"), {"sku": skus[1]}).json()
    expected = APIClient().get(f"/api/v1/products/{skus[1]}/").json()
    assert answer["data"]["product"] == rest_product(expected)
    inactive = post(client, operation("Product"), {"sku": "GQL-0003"}).json()
    assert inactive == {"data": {"product": None}}


def test_categories_carry_their_active_products(client):
    catalog_rows(6, categories=2, inactive=2)
    answer = post(client, operation("CategoriesWithProducts")).json()
    categories = APIClient().get("/api/v1/categories/").json()
    assert [{"slug": c["slug"], "name": c["name"]} for c in answer["data"]["categories"]] == [
        {"slug": c["slug"], "name": c["name"]} for c in categories
    ]
    listed = {c["slug"]: [p["sku"] for p in c["products"]] for c in answer["data"]["categories"]}
    assert listed == {
        "kind-0": ["GQL-0000", "GQL-0002", "GQL-0004"],
        "kind-1": ["GQL-0001", "GQL-0003", "GQL-0005"],
    }


# The count does not grow with the rows: categories, then their products with stock (one
# prefetch); a page: its count, then its rows with category and stock joined.
@pytest.mark.parametrize("rows", [2, 20])
def test_categories_with_products_and_stock_take_two_queries(
    client, rows, django_assert_num_queries
):
    catalog_rows(rows, categories=2)
    with django_assert_num_queries(2):
        answer = post(client, operation("CategoriesWithProducts")).json()
    assert sum(len(c["products"]) for c in answer["data"]["categories"]) == rows


@pytest.mark.parametrize("rows", [2, 20])
def test_a_product_page_with_categories_and_stock_takes_two_queries(
    client, rows, django_assert_num_queries
):
    catalog_rows(rows, categories=2)
    with django_assert_num_queries(2):
        answer = post(client, operation("ProductList"), {"pageSize": 20}).json()
    assert len(answer["data"]["products"]["results"]) == rows
