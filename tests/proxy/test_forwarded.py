"""The edge writes X-Forwarded-*: clients cannot pick their address, scheme or host upstream."""

from __future__ import annotations

import pytest

from tests.proxy.conftest import routes_yaml, upstream_spec

FORGED = {
    "HTTP_X_FORWARDED_FOR": "6.6.6.6",
    "HTTP_X_FORWARDED_PROTO": "https",
    "HTTP_X_FORWARDED_HOST": "evil.example",
}


@pytest.fixture
def monolith(start_upstream):
    return start_upstream("monolith")


def _client(make_proxy, monolith, **overrides):
    routes = [{"name": "login", "prefix": "/login", "rate_limit": {"requests": 2, "per": 60}}]
    return make_proxy(routes_yaml({"monolith": upstream_spec(monolith.url)}, routes), **overrides)


def test_the_upstream_sees_the_edges_view_not_the_clients_claims(make_proxy, monolith):
    client = _client(make_proxy, monolith)
    response = client.get("/x", REMOTE_ADDR="198.51.100.20", HTTP_HOST="shop.example", **FORGED)
    assert response.status_code == 200
    seen = dict(monolith.received[-1]["headers"])
    assert seen["X-Forwarded-For"] == "198.51.100.20"
    assert seen["X-Forwarded-Proto"] == "http"
    assert seen["X-Forwarded-Host"] == "shop.example"


def test_a_random_x_forwarded_for_per_try_shares_one_bucket(make_proxy, monolith):
    client = _client(make_proxy, monolith)
    statuses = [
        client.get("/login", REMOTE_ADDR="198.51.100.20", HTTP_X_FORWARDED_FOR=f"6.6.6.{i}")
        for i in range(3)
    ]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    sent = {dict(r["headers"])["X-Forwarded-For"] for r in monolith.received}
    assert sent == {"198.51.100.20"}


def test_behind_a_trusted_ingress_each_client_has_its_own_address(make_proxy, monolith):
    client = _client(make_proxy, monolith, FORWARDED_ALLOW_IPS="10.0.0.0/8")
    via_ingress = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_PROTO": "https"}
    for address in ("198.51.100.1", "198.51.100.2"):
        for _ in range(2):
            response = client.get("/login", HTTP_X_FORWARDED_FOR=address, **via_ingress)
            assert response.status_code == 200  # not one bucket shared by every client
    seen = dict(monolith.received[-1]["headers"])
    assert (seen["X-Forwarded-For"], seen["X-Forwarded-Proto"]) == ("198.51.100.2", "https")
    assert (
        client.get("/login", HTTP_X_FORWARDED_FOR="198.51.100.2", **via_ingress).status_code == 429
    )
