"""The API answers what its OpenAPI schema says, for any input and any authentication.

Each test pins one finding of the schemathesis run (tests/openapi): bad input is a 400 naming
the parameter, never a 500; every API error is problem+json, CSRF refusals included; the schema
documents the statuses the service really answers; the login throttle counts one proxy.
"""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.middleware.csrf import _get_failure_view
from django.test import Client, RequestFactory
from drf_spectacular.generators import SchemaGenerator
from rest_framework.throttling import ScopedRateThrottle

from tests.support.shapes import assert_problem

pytestmark = pytest.mark.django_db

PAST_BIGINT = "65583681636170330836236461146112"


def test_an_order_filter_past_the_largest_id_is_a_400_naming_it(staff_client):
    body = assert_problem(
        staff_client.get(f"/api/v1/orders/?customer={PAST_BIGINT}"), 400, "validation_error"
    )
    assert [e["field"] for e in body["errors"]] == ["customer"]


@pytest.mark.parametrize(
    "path, after",
    [
        ("/api/v1/users/export/", PAST_BIGINT),
        ("/api/v1/notifications/export/", PAST_BIGINT),
        ("/api/v1/orders/export/", "99999999999999999999"),
        ("/api/v1/orders/export/", "²"),  # str.isdigit() says yes, int() refuses it
    ],
)
def test_an_export_cursor_that_is_no_id_is_a_400_naming_it(staff_client, path, after):
    body = assert_problem(staff_client.get(path, {"after": after}), 400, "validation_error")
    assert [e["field"] for e in body["errors"]] == ["after"]


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/v1/orders/{id}/"),
        ("post", "/api/v1/orders/{id}/cancel/"),
        ("post", "/api/v1/orders/{id}/status/"),
        ("post", "/api/v1/notifications/{id}/read/"),
        ("get", "/api/v1/users/{id}"),
    ],
)
def test_a_path_id_past_the_largest_id_is_a_problem_404(staff_client, method, path):
    response = getattr(staff_client, method)(path.format(id=PAST_BIGINT), {}, format="json")
    assert_problem(response, 404, "not_found")


@pytest.fixture
def session_client(customer) -> Client:
    """A browser's session, with Django's CSRF checks on (the test client skips them)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer)
    return client


@pytest.mark.parametrize(
    "path",
    ["/api/v1/orders/-1/cancel/", "/api/v1/notifications/-1/read/", "/api/v1/no-such-thing/"],
)
def test_a_session_post_to_an_unknown_api_path_is_a_problem_404_not_a_csrf_page(
    session_client, path
):
    response = session_client.post(path, "{}", content_type="application/json")
    assert_problem(response, 404, "not_found")


def test_a_session_post_without_its_csrf_token_is_a_problem_403(session_client):
    # DRF authenticates (and checks CSRF for sessions) before the view looks the order up
    response = session_client.post(
        "/api/v1/orders/1/cancel/", "{}", content_type="application/json"
    )
    assert_problem(response, 403, "permission_denied")


def test_a_csrf_failure_under_api_is_problem_json_and_a_page_elsewhere():
    view = _get_failure_view()  # what CsrfViewMiddleware answers with (CSRF_FAILURE_VIEW)
    response = view(RequestFactory().post("/api/v1/orders/"), reason="CSRF cookie not set.")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert json.loads(response.content)["code"] == "csrf_failed"
    page = view(RequestFactory().post("/accounts/login/"), reason="CSRF cookie not set.")
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _statuses(schema: dict, path: str, method: str) -> set[str]:
    return set(schema["paths"][path][method]["responses"])


def test_the_token_endpoints_document_their_401(schema):
    assert "401" in _statuses(schema, "/api/v1/auth/token", "post")
    assert "401" in _statuses(schema, "/api/v1/auth/token/refresh", "post")


@pytest.mark.parametrize(
    "path", ["/api/v1/orders/", "/api/v1/notifications/", "/api/v1/users/", "/api/v1/products/"]
)
def test_a_paginated_list_documents_the_404_past_its_last_page(schema, path):
    assert "404" in _statuses(schema, path, "get")


def test_public_writes_that_accept_sessions_document_the_csrf_403(schema):
    assert "403" in _statuses(schema, "/api/v1/users/", "post")


def test_each_export_page_has_its_own_schema(schema, staff_client):
    # given the three exports the monolith serves
    exports = {
        "/api/v1/users/export/": "UserExportPage",
        "/api/v1/notifications/export/": "NotificationExportPage",
        "/api/v1/catalog/export/": "CatalogExportPage",
        "/api/v1/orders/export/": "OrderExportPage",
    }
    for path, component in exports.items():
        content = schema["paths"][path]["get"]["responses"]["200"]["content"]
        # then each documents its own page, with the keys its body has
        assert content["application/json"]["schema"]["$ref"].endswith("/" + component), path
        required = set(schema["components"]["schemas"][component]["required"])
        assert required == set(staff_client.get(path).json()), path


def test_the_login_throttle_counts_one_proxy_not_the_client_forwarded_for(anon_client, monkeypatch):
    # given a throttle of 5 logins a minute, and a client behind our proxy that writes a new
    # X-Forwarded-For for every try (the proxy appends the address it saw: 127.0.0.1)
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "5/min"})
    # the bucket of the proxy's address only: the cache may be a Redis other runs share
    cache.delete(ScopedRateThrottle.cache_format % {"scope": "auth", "ident": "127.0.0.1"})
    statuses = []
    for attempt in range(8):
        response = anon_client.post(
            "/api/v1/auth/token",
            {"username": "nobody", "password": "wrong"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}, 127.0.0.1",
        )
        statuses.append(response.status_code)
    # then the client is throttled after its 5th try all the same
    assert statuses == [401] * 5 + [429] * 3


def test_a_sku_in_a_path_is_documented_with_the_sku_pattern(schema, anon_client):
    from monolith.catalog.serializers import SKU_PATTERN

    for path in ("/api/v1/products/{sku}/", "/api/v1/products/{sku}/price/"):
        (parameter,) = schema["paths"][path]["get"]["parameters"][:1]
        assert parameter["name"] == "sku" and parameter["schema"]["pattern"] == SKU_PATTERN
    # and a path that is no SKU names no product
    assert_problem(anon_client.get("/api/v1/products/not%5Ca-sku/"), 404, "not_found")
