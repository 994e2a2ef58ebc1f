"""The orders service answers bad filters like the monolith: a 400 naming the parameter."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_customer_filter_past_the_largest_id_is_a_400_naming_it(staff):
    response = staff.get("/api/v1/orders/?customer=65583681636170330836236461146112")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["customer"]


def test_a_page_past_the_last_is_a_documented_404(staff):
    from drf_spectacular.generators import SchemaGenerator

    response = staff.get("/api/v1/orders/?page=43529970086906")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert "404" in schema["paths"]["/api/v1/orders/"]["get"]["responses"]
