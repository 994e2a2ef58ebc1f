"""GraphQL reads through the real proxy to a real catalog service, in production's mode: only
allow-listed documents, by hash, over POST and over GET."""

from __future__ import annotations

import json

import pytest
import requests

from extracted.catalog.graphql_api import persisted
from tests.extracted.catalog.graphql_client import URL, by_hash, operation
from tests.proxy.processes import ROOT, ProxyProcess
from tests.support import fleet
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e
SEED = "from tests.extracted.catalog.builders import catalog_rows; catalog_rows(12, categories=3)"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    data = tmp_path_factory.mktemp("graphql-proxy")
    service = fleet.catalog(
        data, env={"GRAPHQL_PERSISTED_ONLY": "true"}, setup=[["shell", "-c", SEED]]
    )
    with service:
        env = {
            "STRANGLER_CATALOG_URL": service.url,
            # nothing answers there: a request that reached the monolith would fail loudly
            "STRANGLER_MONOLITH_URL": f"http://127.0.0.1:{free_port()}",
        }
        routes = ROOT / "strangler_proxy" / "routes.yaml"  # the shipped table, as is
        with ProxyProcess(routes, data_dir=data / "proxy", env=env) as proxy:
            yield service.url, proxy.url


def test_a_persisted_query_answers_through_the_proxy_as_directly(proxied):
    direct, proxy = proxied
    body = {
        "variables": {"category": "kind-1", "pageSize": 3},
        "extensions": by_hash("ProductList"),
    }
    answers = [requests.post(base + URL, json=body, timeout=10) for base in (direct, proxy)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[1].json() == answers[0].json()
    products = answers[1].json()["data"]["products"]
    assert products["count"] == 4
    assert [p["sku"] for p in products["results"]] == ["GQL-0001", "GQL-0004", "GQL-0007"]
    assert all(p["category"]["slug"] == "kind-1" for p in products["results"])


def test_a_persisted_query_over_get_answers_the_same(proxied):
    _, proxy = proxied
    params = {
        "variables": json.dumps({"sku": "GQL-0003"}),
        "extensions": json.dumps(by_hash("Product")),
    }
    by_get = requests.get(proxy + URL, params=params, timeout=10)
    by_post = requests.post(
        proxy + URL,
        json={"variables": {"sku": "GQL-0003"}, "extensions": by_hash("Product")},
        timeout=10,
    )
    assert by_get.status_code == 200
    assert by_get.json() == by_post.json()
    assert by_get.json()["data"]["product"]["stock"] == {"available": 3, "inStock": True}


def test_production_refuses_an_unlisted_document_through_the_proxy(proxied):
    _, proxy = proxied
    refused = requests.post(proxy + URL, json={"query": "{ categories { slug } }"}, timeout=10)
    assert refused.status_code == 400
    assert refused.headers["Content-Type"] == "application/json"
    assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
    listed = requests.post(
        proxy + URL, json={"query": operation("CategoriesWithProducts")}, timeout=10
    )
    assert [c["slug"] for c in listed.json()["data"]["categories"]] == [
        "kind-0",
        "kind-1",
        "kind-2",
    ]
    assert persisted.document_hash(operation("CategoriesWithProducts")) in persisted.allow_list()
