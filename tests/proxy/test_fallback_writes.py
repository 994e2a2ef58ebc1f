"""Fallback never applies a write twice: only when nothing reached the candidate, or for reads."""

from __future__ import annotations

import time

import pytest

from tests.proxy.conftest import routes_yaml, upstream_spec

DEAD = "http://127.0.0.1:9"  # discard port: connection refused, nothing sent


def _client(make_proxy, monolith, candidate_url, **candidate):
    return make_proxy(
        routes_yaml(
            {
                "monolith": upstream_spec(monolith.url),
                "service": upstream_spec(candidate_url, **candidate),
            },
            [
                {
                    "name": "orders",
                    "prefix": "/api/",
                    "mode": "extracted",
                    "upstream": "service",
                    "fallback": "monolith",
                }
            ],
        )
    )


@pytest.fixture
def monolith(start_upstream):
    return start_upstream("monolith")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_write_answered_5xx_by_the_candidate_is_not_resent(
    make_proxy, start_upstream, monolith, method
):
    service = start_upstream("service", lambda handler, record: (503, b'{"down": 1}'))
    client = _client(make_proxy, monolith, service.url)
    response = getattr(client, method)("/api/x", data=b"{}", content_type="application/json")
    assert response.status_code == 503  # the candidate's own answer; it may have committed
    assert len(service.received) == 1
    assert monolith.received == []


def test_a_write_that_timed_out_is_not_resent(make_proxy, start_upstream, monolith):
    def slow(handler, record):
        time.sleep(0.6)
        return 201, b"{}"

    service = start_upstream("service", slow)
    client = _client(make_proxy, monolith, service.url, timeout={"connect": 1, "read": 0.2})
    response = client.post("/api/x", data=b"{}", content_type="application/json")
    assert response.status_code == 504
    assert monolith.received == []


def test_a_write_with_an_idempotency_key_is_still_not_sent_to_a_second_system(
    make_proxy, start_upstream, monolith
):
    # the key is remembered by the service that saw it; the monolith's store never did
    service = start_upstream("service", lambda handler, record: (502, b"{}"))
    client = _client(make_proxy, monolith, service.url)
    response = client.post(
        "/api/x", data=b"{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert response.status_code == 502
    assert monolith.received == []


def test_a_write_that_never_left_falls_back(make_proxy, monolith):
    client = _client(make_proxy, monolith, DEAD)
    response = client.post("/api/x", data=b"{}", content_type="application/json")
    assert response.status_code == 200 and response["X-Upstream"] == "monolith"


@pytest.mark.parametrize("method", ["get", "head", "options"])
def test_reads_still_fall_back_after_a_5xx(make_proxy, start_upstream, monolith, method):
    service = start_upstream("service", lambda handler, record: (503, b"{}"))
    client = _client(make_proxy, monolith, service.url)
    response = getattr(client, method)("/api/x")
    assert response.status_code == 200 and response["X-Upstream"] == "monolith"
