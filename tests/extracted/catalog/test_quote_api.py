"""The quote answers the same by GET (SKUs in the query) and by POST (SKUs in a JSON body), and
refuses what it cannot answer with a 400 naming the field: none, more than 100, one longer than
a SKU can be. A list too long for a request line (100 SKUs of 32 letters with accents) fits a
POST."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.extracted.catalog.builders import catalog_rows

pytestmark = pytest.mark.django_db

QUOTE = "/api/v1/catalog/quote/"


def _get(client, skus):
    return client.get(f"{QUOTE}?{urlencode([('sku', s) for s in skus])}")


def _post(client, skus):
    return client.post(QUOTE, {"sku": skus}, format="json")


def test_get_and_post_answer_the_same_quote(customer_client):
    skus = catalog_rows(3, inactive=1)
    asked = [skus[2], "NO-SUCH-SKU", skus[0], "GQL-0003"]  # GQL-0003 is not sold any more
    by_get, by_post = _get(customer_client, asked), _post(customer_client, asked)
    assert by_get.status_code == by_post.status_code == 200, (by_get.data, by_post.data)
    assert by_get.json() == by_post.json()
    assert [q["sku"] for q in by_post.json()["quotes"]] == [skus[2], skus[0]]
    assert by_post.json()["unknown_skus"] == ["NO-SUCH-SKU", "GQL-0003"]


def test_a_list_no_request_line_could_carry_is_quoted_by_post(customer_client):
    catalog_rows(1)
    skus = [f"É{n:03d}".ljust(32, "Ü") for n in range(100)]
    assert len(f"{QUOTE}?{urlencode([('sku', s) for s in skus])}") > 4094 * 4
    response = _post(customer_client, skus)
    assert response.status_code == 200, response.data
    assert response.json()["unknown_skus"] == skus


@pytest.mark.parametrize("send", [_get, _post], ids=["get", "post"])
@pytest.mark.parametrize(
    ("skus", "field"),
    [
        ([f"SKU-{n}" for n in range(101)], "sku"),
        (["GQL-0000", "X" * 33], "sku.1"),
        ([], "sku"),
    ],
    ids=["more-than-100", "longer-than-a-sku", "none"],
)
def test_what_cannot_be_quoted_is_refused_naming_the_field(customer_client, send, skus, field):
    response = send(customer_client, skus)
    assert response.status_code == 400, response.data
    assert response["Content-Type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]], response.json()


def test_the_schema_states_the_limits_and_both_forms():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    (sku,) = [p for p in paths[QUOTE]["get"]["parameters"] if p["name"] == "sku"]
    assert sku["schema"]["maxItems"] == 100 and sku["schema"]["items"]["maxLength"] == 32
    assert "application/problem+json" in paths[QUOTE]["get"]["responses"]["414"]["content"]
    ref = paths[QUOTE]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert body["properties"]["sku"]["maxItems"] == 100 and body["required"] == ["sku"]
