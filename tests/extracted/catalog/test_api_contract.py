"""The catalog service's schema states what a SKU in a path looks like."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from extracted.catalog.products.serializers import SKU_PATTERN

pytestmark = pytest.mark.django_db


def test_a_sku_in_a_path_is_documented_with_the_sku_pattern(customer_client):
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for path in ("/api/v1/products/{sku}/", "/api/v1/products/{sku}/inventory/"):
        (sku,) = [p for p in paths[path]["get"]["parameters"] if p["name"] == "sku"]
        assert sku["schema"]["pattern"] == SKU_PATTERN
    response = customer_client.get("/api/v1/products/not%5Ca-sku/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
