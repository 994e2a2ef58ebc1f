"""Route modes through the in-process proxy: monolith, extracted, fallback, shadow, canary."""

from __future__ import annotations

import json
import time

import pytest

from tests.proxy.conftest import routes_yaml, upstream_spec
from tests.support.wait import wait_for


@pytest.fixture
def pair(start_upstream):
    return start_upstream("monolith"), start_upstream("service")


def test_unmatched_requests_go_to_the_monolith(make_proxy, pair):
    monolith, _service = pair
    client = make_proxy(routes_yaml({"monolith": upstream_spec(monolith.url)}, []))
    response = client.get("/anything/here?x=1")
    assert response.status_code == 200
    assert response["X-Upstream"] == "monolith"
    assert monolith.received[-1]["target"] == "/anything/here?x=1"


def test_extracted_route_goes_to_the_service(make_proxy, pair):
    monolith, service = pair
    client = make_proxy(
        routes_yaml(
            {"monolith": upstream_spec(monolith.url), "service": upstream_spec(service.url)},
            [
                {
                    "name": "products",
                    "prefix": "/api/v1/products/",
                    "mode": "extracted",
                    "upstream": "service",
                }
            ],
        )
    )
    assert client.get("/api/v1/products/1/")["X-Upstream"] == "service"
    assert client.get("/api/v1/orders/")["X-Upstream"] == "monolith"


def test_fallback_to_the_monolith_when_the_service_fails(make_proxy, pair):
    monolith, _service = pair
    dead = "http://127.0.0.1:9"  # discard port: connection refused
    client = make_proxy(
        routes_yaml(
            {"monolith": upstream_spec(monolith.url), "service": upstream_spec(dead)},
            [
                {
                    "name": "products",
                    "prefix": "/api/",
                    "mode": "extracted",
                    "upstream": "service",
                    "fallback": "monolith",
                }
            ],
        )
    )
    response = client.get("/api/v1/products/")
    assert response.status_code == 200
    assert response["X-Upstream"] == "monolith"


def test_fallback_on_a_5xx_from_the_service(make_proxy, pair):
    monolith, service = pair
    client = make_proxy(
        routes_yaml(
            {"monolith": upstream_spec(monolith.url), "service": upstream_spec(service.url)},
            [
                {
                    "name": "s",
                    "prefix": "/status/",
                    "mode": "extracted",
                    "upstream": "service",
                    "fallback": "monolith",
                }
            ],
        )
    )
    response = client.get("/status/503")
    assert response.status_code == 503  # the monolith's own /status/503 answer
    assert json.loads(response.content)["server"] == "monolith"
    assert [r["server"] for r in service.received] == ["service"]


def test_open_breaker_answers_503_with_retry_after_then_fallback(make_proxy, pair):
    monolith, _ = pair
    dead = "http://127.0.0.1:9"
    spec = upstream_spec(dead, breaker={"fail_max": 2, "reset_timeout": 60})
    client = make_proxy(
        routes_yaml(
            {"monolith": upstream_spec(monolith.url), "service": spec},
            [
                {"name": "plain", "prefix": "/plain/", "mode": "extracted", "upstream": "service"},
                {
                    "name": "safe",
                    "prefix": "/safe/",
                    "mode": "extracted",
                    "upstream": "service",
                    "fallback": "monolith",
                },
            ],
        )
    )
    statuses = [client.get("/plain/x").status_code for _ in range(3)]
    assert statuses[0] == 502
    assert statuses[-1] == 503
    opened = client.get("/plain/x")
    assert opened.status_code == 503
    assert opened["Content-Type"] == "application/problem+json"
    assert json.loads(opened.content)["code"] == "circuit_open"
    assert 1 <= int(opened["Retry-After"]) <= 60
    assert client.get("/safe/x")["X-Upstream"] == "monolith"


def test_a_503_that_names_its_retry_after_never_opens_the_breaker(make_proxy, start_upstream):
    """A service frozen for a handover answers 503 with Retry-After: it is up and said when to
    come back. The breaker does not count it (a takeover under load would otherwise open the
    circuit, and writes would fail with circuit_open until its reset); a 503 without
    Retry-After still does."""
    waiting = {"on": True}

    def frozen(handler, record):
        if waiting["on"]:
            return 503, b'{"code": "owner_moving"}', [("Retry-After", "1")]
        return 503, b'{"code": "broken"}'

    service = start_upstream("service", frozen)
    spec = upstream_spec(service.url, breaker={"fail_max": 2, "reset_timeout": 60})
    client = make_proxy(
        routes_yaml(
            {"monolith": upstream_spec(service.url), "service": spec},
            [{"name": "w", "prefix": "/w/", "mode": "extracted", "upstream": "service"}],
        )
    )
    for _ in range(6):  # three times fail_max, each a write (one attempt)
        answer = client.post("/w/x", data=b"{}", content_type="application/json")
        assert answer.status_code == 503
        assert answer["Retry-After"] == "1"
        assert json.loads(answer.content)["code"] == "owner_moving"  # the service's own answer
    assert len(service.received) == 6
    waiting["on"] = False
    codes = [
        json.loads(client.post("/w/x", data=b"{}", content_type="application/json").content)["code"]
        for _ in range(3)
    ]
    assert codes == ["broken", "circuit_open", "circuit_open"]  # the second failure opens it
    assert len(service.received) == 8


def test_shadow_serves_the_primary_and_records_differences(make_proxy, pair, settings):
    monolith, service = pair
    client = make_proxy(
        routes_yaml(
            {"monolith": upstream_spec(monolith.url), "service": upstream_spec(service.url)},
            [
                {
                    "name": "echo",
                    "prefix": "/echo",
                    "mode": "shadow",
                    "upstream": "service",
                    "shadow": {"ignore_fields": ["headers"]},
                }
            ],
        )
    )
    response = client.get("/echo?q=1", HTTP_X_REQUEST_ID="shadow-req-1")
    assert response["X-Upstream"] == "monolith"
    wait_for(
        lambda: len(service.received) == 1,
        timeout=10,
        interval=0.02,
        what="the shadow copy upstream",
    )
    shadowed = dict(service.received[0]["headers"])
    assert shadowed["X-Strangler-Shadow"] == "1"
    assert "X-Strangler-Dry-Run" not in shadowed
    # the echo bodies differ in "server": the difference is recorded with the request id
    headers = {"HTTP_AUTHORIZATION": f"Bearer {settings.STRANGLER_PROXY['ADMIN_TOKEN']}"}
    wait_for(
        lambda: client.get("/_strangler/shadow", **headers).json()["recent_differences"],
        timeout=10,
        interval=0.02,
        what="a recorded shadow difference",
    )
    report = client.get("/_strangler/shadow", **headers).json()
    diff = report["recent_differences"][0]
    assert diff["route"] == "echo" and diff["request_id"] == "shadow-req-1"
    assert any(d.startswith("server:") for d in diff["differences"])
    assert report["comparisons"]["echo"]["mismatch"] >= 1


def _shadow_route(make_proxy, pair, prefix: str):
    monolith, service = pair
    route = {"name": "shadowed", "prefix": prefix, "mode": "shadow", "upstream": "service"}
    return make_proxy(
        routes_yaml(
            {"monolith": upstream_spec(monolith.url), "service": upstream_spec(service.url)},
            [route],
        )
    )


def test_shadow_never_copies_writes(make_proxy, pair):
    monolith, service = pair
    client = _shadow_route(make_proxy, pair, "/ro/")
    for method in ("post", "put", "patch", "delete"):
        getattr(client, method)("/ro/x", data=b"{}", content_type="application/json")
    client.get("/ro/x")
    wait_for(
        lambda: len(service.received) == 1,
        timeout=10,
        interval=0.02,
        what="the shadow copy upstream",
    )
    time.sleep(0.2)
    assert [r["method"] for r in service.received] == ["GET"]
    assert len(monolith.received) == 5


def test_shadow_writes_true_is_refused_naming_the_field():
    from strangler_proxy.routes.load import parse_table
    from strangler_proxy.routes.model import RouteTableError

    text = routes_yaml(
        {"monolith": upstream_spec("http://m:1"), "service": upstream_spec("http://s:1")},
        [
            {
                "name": "rw",
                "prefix": "/rw/",
                "mode": "shadow",
                "upstream": "service",
                "shadow": {"writes": True},
            }
        ],
    )
    with pytest.raises(RouteTableError, match=r"routes\[0\]\.shadow\.writes: must be false"):
        parse_table(text, source="routes.yaml")


def test_client_sent_strangler_headers_never_reach_an_upstream(make_proxy, pair):
    monolith, service = pair
    client = _shadow_route(make_proxy, pair, "/s/")
    forged = {
        "HTTP_X_STRANGLER_DRY_RUN": "1",
        "HTTP_X_STRANGLER_SHADOW": "1",
        "HTTP_X_STRANGLER_CANARY": "candidate",
        "HTTP_X_STRANGLER_ANYTHING": "x",
    }
    client.get("/s/x", **forged)
    client.post("/elsewhere", data=b"{}", content_type="application/json", **forged)
    wait_for(
        lambda: len(service.received) == 1,
        timeout=10,
        interval=0.02,
        what="the shadow copy upstream",
    )
    for record in [*monolith.received, *service.received]:
        names = [name.lower() for name, _ in record["headers"]]
        sent = [n for n in names if n.startswith("x-strangler-")]
        assert sent == (["x-strangler-shadow"] if record["server"] == "service" else [])


def test_shadow_candidate_failure_is_recorded_not_seen(make_proxy, pair):
    monolith, _ = pair
    client = make_proxy(
        routes_yaml(
            {
                "monolith": upstream_spec(monolith.url),
                "service": upstream_spec("http://127.0.0.1:9"),
            },
            [{"name": "s", "prefix": "/", "mode": "shadow", "upstream": "service"}],
        )
    )
    assert client.get("/x").status_code == 200
    from strangler_proxy.runtime import get_proxy

    wait_for(
        lambda: get_proxy().shadow.store.recent(),
        timeout=10,
        interval=0.02,
        what="a stored shadow comparison",
    )
    assert "candidate failed" in get_proxy().shadow.store.recent()[0]["differences"][0]


def test_canary_is_sticky_per_user_with_header_override(make_proxy, pair, make_token):
    monolith, service = pair
    client = make_proxy(
        routes_yaml(
            {"monolith": upstream_spec(monolith.url), "service": upstream_spec(service.url)},
            [{"name": "c", "prefix": "/", "mode": "canary", "upstream": "service", "percent": 50}],
        ),
        TRUST_CANARY_HEADER=True,
    )
    sides = {}
    for user in range(40):
        auth = {"HTTP_AUTHORIZATION": f"Bearer {make_token(sub=str(user))}"}
        seen = {client.get("/x", **auth)["X-Upstream"] for _ in range(3)}
        assert len(seen) == 1  # sticky
        sides[user] = seen.pop()
    assert set(sides.values()) == {"monolith", "service"}
    staff = {"HTTP_AUTHORIZATION": f"Bearer {make_token(sub='99', is_staff=True)}"}
    forced = client.get("/x", HTTP_X_STRANGLER_CANARY="candidate", **staff)
    assert forced["X-Upstream"] == "service"
    back = client.get("/x", HTTP_X_STRANGLER_CANARY="primary", **staff)
    assert back["X-Upstream"] == "monolith"


def test_routes_file_change_applies_without_restart_and_bad_file_keeps_last_good(
    make_proxy, pair, settings
):
    monolith, service = pair
    ups = {"monolith": upstream_spec(monolith.url), "service": upstream_spec(service.url)}
    client = make_proxy(routes_yaml(ups, []))
    path = settings.STRANGLER_PROXY["ROUTES_FILE"]
    assert client.get("/p/1")["X-Upstream"] == "monolith"

    with open(path, "w") as handle:
        handle.write(
            routes_yaml(
                ups, [{"name": "p", "prefix": "/p/", "mode": "extracted", "upstream": "service"}]
            )
        )
    assert client.get("/p/1")["X-Upstream"] == "service"

    with open(path, "w") as handle:
        handle.write(
            routes_yaml(
                ups, [{"name": "p", "prefix": "/p/", "mode": "extracted", "upstream": "nowhere"}]
            )
        )
    assert client.get("/p/1")["X-Upstream"] == "service"  # last good table still in force
    from strangler_proxy.runtime import get_proxy

    assert "routes[0].upstream: unknown upstream" in get_proxy().source.last_error
