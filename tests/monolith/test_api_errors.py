"""Every API error is problem+json; never HTML, never a 500 for bad input."""

import pytest
from django.test import RequestFactory

from servicekit.web.errors import server_error
from tests.support.shapes import assert_problem

pytestmark = pytest.mark.django_db


def test_unknown_api_path_is_a_json_404(anon_client):
    assert_problem(anon_client.get("/api/v1/no-such-thing/"), 404, "not_found")


def test_malformed_json_is_a_400(customer_client):
    response = customer_client.post(
        "/api/v1/orders/", data="{not json", content_type="application/json"
    )
    assert_problem(response, 400, "parse_error")


def test_wrong_media_type_is_a_415(customer_client):
    response = customer_client.post("/api/v1/orders/", data="lines=1", content_type="text/plain")
    assert_problem(response, 415, "unsupported_media_type")


def test_wrong_method_is_a_405(anon_client):
    assert_problem(
        anon_client.put("/api/v1/categories/", {}, format="json"), 401, "not_authenticated"
    )
    assert_problem(anon_client.delete("/api/v1/auth/token"), 405, "method_not_allowed")


def test_non_object_body_is_a_400_not_a_500(customer_client):
    response = customer_client.post(
        "/api/v1/orders/", data="[1, 2]", content_type="application/json"
    )
    assert_problem(response, 400, "validation_error")


def test_server_error_handler_answers_problem_json_without_details():
    response = server_error(RequestFactory().get("/api/v1/orders/"))
    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    assert b"Traceback" not in response.content
    page = server_error(RequestFactory().get("/products/X/"))
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_problem_carries_the_request_id(anon_client):
    response = anon_client.get("/api/v1/users/me", HTTP_X_REQUEST_ID="req-123")
    assert response["X-Request-ID"] == "req-123"
    assert response.json()["request_id"] == "req-123"


def test_openapi_schema_documents_every_endpoint_and_errors(anon_client):
    from django.urls import get_resolver

    schema = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for expected in [
        "/api/v1/auth/token",
        "/api/v1/auth/token/refresh",
        "/api/v1/users/",
        "/api/v1/users/me",
        "/api/v1/products/",
        "/api/v1/products/{sku}/",
        "/api/v1/products/{sku}/price/",
        "/api/v1/products/{sku}/inventory/",
        "/api/v1/categories/",
        "/api/v1/orders/",
        "/api/v1/orders/{order_id}/cancel/",
        "/api/v1/orders/{order_id}/status/",
        "/api/v1/notifications/",
        "/api/v1/notifications/read-all/",
    ]:
        assert expected in paths, expected
    for path, operations in paths.items():
        for method, operation in operations.items():
            errors = {code for code in operation["responses"] if code.startswith("4")}
            assert "429" in errors, (method, path)
            if method in ("post", "put", "patch"):
                assert "400" in errors, (method, path)
            problem = operation["responses"]["429"]["content"]
            assert "application/problem+json" in problem
    assert get_resolver()  # the URLconf loads


def test_docs_page_is_served(anon_client):
    response = anon_client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_healthz_and_readyz(anon_client):
    assert anon_client.get("/healthz").json() == {"status": "ok"}
    ready = anon_client.get("/readyz")
    assert ready.status_code == 200, ready.content
    assert set(ready.json()["checks"]) == {"database", "broker"}


def test_readyz_is_503_when_the_broker_is_unreachable(anon_client, settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = anon_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert response.json()["checks"]["database"]["ok"] is True
