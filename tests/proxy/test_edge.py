"""Edge concerns through the in-process proxy: auth, rate limits, retries, bulkhead, admin API."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading

import pytest

from servicekit.web.jwt.keys import SigningKey, generate_private_pem, jwks_document
from servicekit.web.jwt.tokens import ACCESS, TokenPolicy, token_issue
from strangler_proxy.routes.load import load_table
from strangler_proxy.routes.model import RateLimit
from tests.proxy.conftest import ADMIN, AUDIENCE, ISSUER, routes_yaml, upstream_spec


@pytest.fixture
def monolith(start_upstream):
    return start_upstream("monolith")


def _client(make_proxy, monolith, routes, **spec):
    return make_proxy(routes_yaml({"monolith": upstream_spec(monolith.url, **spec)}, routes))


def test_auth_required_route_gets_401_without_a_valid_token(make_proxy, monolith, make_token):
    client = _client(
        make_proxy, monolith, [{"name": "me", "prefix": "/api/me", "auth": "required"}]
    )
    missing = client.get("/api/me")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/me", HTTP_AUTHORIZATION="Bearer not.a.token").status_code == 401
    forged = token_issue(
        key=SigningKey.from_pem(generate_private_pem()),
        policy=TokenPolicy(issuer=ISSUER, audience=AUDIENCE),
        subject="1",
        token_type=ACCESS,
    )
    assert client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {forged}").status_code == 401
    assert monolith.received == []
    token = make_token(sub="7")
    ok = client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert ok.status_code == 200
    # the token itself goes upstream, which verifies it again
    assert dict(monolith.received[-1]["headers"])["Authorization"] == f"Bearer {token}"


def test_jwks_is_cached_and_refetched_for_an_unknown_kid(
    make_proxy, monolith, make_token, jwks_server, signing_key
):
    client = _client(make_proxy, monolith, [{"name": "me", "prefix": "/", "auth": "required"}])
    for _ in range(3):
        assert client.get("/x", HTTP_AUTHORIZATION=f"Bearer {make_token()}").status_code == 200
    fetches = [r for r in jwks_server.received if r["target"] == "/.well-known/jwks.json"]
    assert len(fetches) == 1  # cached
    # the monolith rotates its key: the new kid is unknown to the proxy's cache
    new_key = SigningKey.from_pem(generate_private_pem())
    document = json.dumps(jwks_document([signing_key, new_key])).encode()
    jwks_server.behaviour = lambda handler, record: (
        (200, document) if "jwks" in record["target"] else None
    )
    from strangler_proxy.runtime import get_proxy

    get_proxy().auth.keys._attempted_at -= 60  # past min_refresh, as if time had passed
    rotated = token_issue(
        key=new_key,
        policy=TokenPolicy(issuer=ISSUER, audience=AUDIENCE),
        subject="9",
        token_type=ACCESS,
    )
    assert client.get("/x", HTTP_AUTHORIZATION=f"Bearer {rotated}").status_code == 200
    assert len([r for r in jwks_server.received if "jwks" in r["target"]]) == 2


def test_rate_limit_answers_429_with_retry_after_per_client_and_route(make_proxy, monolith):
    routes = [
        {"name": "limited", "prefix": "/limited/", "rate_limit": {"requests": 3, "per": 60}},
        {"name": "other", "prefix": "/"},
    ]
    client = _client(make_proxy, monolith, routes)
    statuses = [client.get("/limited/x", REMOTE_ADDR="10.1.1.1").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/limited/x", REMOTE_ADDR="10.1.1.1")
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert json.loads(limited.content)["code"] == "rate_limited"
    assert client.get("/limited/x", REMOTE_ADDR="10.1.1.2").status_code == 200  # per client
    assert client.get("/other", REMOTE_ADDR="10.1.1.1").status_code == 200  # per route


def test_idempotent_requests_are_retried_posts_only_with_idempotency_key(
    make_proxy, start_upstream
):
    calls = {"n": 0}

    def flaky(handler, record):
        calls["n"] += 1
        return (503, b"{}") if calls["n"] in (1, 3, 4) else None

    upstream = start_upstream("flaky", flaky)
    client = make_proxy(
        routes_yaml(
            {"monolith": upstream_spec(upstream.url, retry={"attempts": 2, "backoff": 0.0})}, []
        )
    )
    assert client.get("/x").status_code == 200  # 503 then retried
    assert client.post("/x", data=b"{}", content_type="application/json").status_code == 503
    response = client.post(
        "/x", data=b"{}", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert response.status_code == 200
    assert calls["n"] == 5


def test_retry_goes_to_another_instance(make_proxy, start_upstream):
    good = start_upstream("good")
    dead = "http://127.0.0.1:9"
    client = make_proxy(
        routes_yaml(
            {"monolith": upstream_spec([dead, good.url], retry={"attempts": 2, "backoff": 0.0})}, []
        )
    )
    assert all(client.get("/x").status_code == 200 for _ in range(4))


def test_timeout_answers_504(make_proxy, monolith):
    client = _client(make_proxy, monolith, [{"name": "slow", "prefix": "/slow", "timeout": 0.2}])
    response = client.get("/slow?s=2")
    assert response.status_code == 504
    assert json.loads(response.content)["code"] == "upstream_timeout"


def test_bulkhead_caps_concurrent_requests_per_upstream(make_proxy, start_upstream):
    gate = threading.Event()
    entered = threading.Semaphore(0)

    def hold(handler, record):
        entered.release()
        gate.wait(20)
        return 200, b"{}"

    upstream = start_upstream("held", hold)
    client = make_proxy(
        routes_yaml({"monolith": upstream_spec(upstream.url, max_concurrent=1)}, [])
    )
    from django.test import Client

    results = []
    first = threading.Thread(target=lambda: results.append(Client().get("/a").status_code))
    first.start()
    assert entered.acquire(timeout=20)
    rejected = client.get("/b")
    gate.set()
    first.join(20)
    assert rejected.status_code == 503
    assert json.loads(rejected.content)["code"] == "bulkhead_full"
    assert results == [200]


def test_admin_api_requires_admin_or_staff(make_proxy, monolith, make_token):
    client = _client(make_proxy, monolith, [])
    assert client.get("/_strangler/routes").status_code == 401
    assert (
        client.get(
            "/_strangler/routes", HTTP_AUTHORIZATION=f"Bearer {make_token(is_staff=False)}"
        ).status_code
        == 401
    )
    assert (
        client.get(
            "/_strangler/routes", HTTP_AUTHORIZATION=f"Bearer {make_token(is_staff=True)}"
        ).status_code
        == 200
    )
    assert client.get("/_strangler/routes", **ADMIN).status_code == 200


def test_admin_api_shows_table_traffic_breakers_and_changes_a_route(make_proxy, start_upstream):
    monolith, service = start_upstream("monolith"), start_upstream("service")
    client = make_proxy(
        routes_yaml(
            {"monolith": upstream_spec(monolith.url), "service": upstream_spec(service.url)},
            [{"name": "p", "prefix": "/p/", "mode": "monolith", "upstream": "service"}],
        )
    )
    for _ in range(3):
        client.get("/p/1")
    table = client.get("/_strangler/routes", **ADMIN).json()
    assert [r["name"] for r in table["routes"]] == ["p"]
    traffic = client.get("/_strangler/traffic", **ADMIN).json()
    assert traffic["routes"]["p"]["by_upstream"]["monolith"] >= 3
    assert traffic["routes"]["p"]["monolith_share"] == 1.0

    changed = client.patch(
        "/_strangler/routes/p",
        data=json.dumps({"mode": "extracted"}),
        content_type="application/json",
        **ADMIN,
    )
    assert changed.status_code == 200 and changed.json()["mode"] == "extracted"
    assert client.get("/p/1")["X-Upstream"] == "service"
    refused = client.patch(
        "/_strangler/routes/p",
        data=json.dumps({"mode": "canary", "percent": 500}),
        content_type="application/json",
        **ADMIN,
    )
    assert refused.status_code == 400 and "percent" in refused.json()["detail"]
    assert (
        client.patch(
            "/_strangler/routes/nope", data="{}", content_type="application/json", **ADMIN
        ).status_code
        == 404
    )
    breakers = client.get("/_strangler/breakers", **ADMIN).json()
    assert breakers["service"]["state"] == "closed"
    assert breakers["service"]["instances"][0]["url"] == service.url


def test_metrics_endpoint_exposes_per_route_counts_and_latency(make_proxy, monolith):
    client = _client(make_proxy, monolith, [{"name": "m", "prefix": "/m/"}])
    client.get("/m/1")
    text = client.get("/_strangler/metrics").content.decode()
    assert 'proxy_upstream_requests_total{route="m",status="200",upstream="monolith"}' in text
    assert (
        'proxy_upstream_duration_seconds_bucket{le="0.005",route="m",upstream="monolith"}' in text
    )


def test_traceparent_passes_through_to_the_upstream(make_proxy, monolith):
    client = _client(make_proxy, monolith, [])
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    client.get("/t", HTTP_TRACEPARENT=parent)
    assert dict(monolith.received[-1]["headers"])["Traceparent"] == parent


def test_traceparent_gets_the_proxys_span_as_parent_when_tracing(make_proxy, monolith):
    from opentelemetry.sdk.trace import TracerProvider

    client = make_proxy(routes_yaml({"monolith": upstream_spec(monolith.url)}, []), TRACING=True)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("edge") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        client.get("/t")
    sent = {k.lower(): v for k, v in monolith.received[-1]["headers"]}["traceparent"]
    assert sent.split("-")[1] == trace_id
    assert sent.split("-")[2] == format(span.get_span_context().span_id, "016x")


def test_cli_lists_shows_and_sets_routes(tmp_path, monolith):
    path = tmp_path / "routes.yaml"
    path.write_text(
        routes_yaml(
            {"monolith": upstream_spec(monolith.url), "svc": upstream_spec(monolith.url)},
            [{"name": "orders", "prefix": "/api/v1/orders/"}],
        )
    )

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "strangler_proxy", "routes", *args, "--file", str(path)],
            capture_output=True,
            text=True,
        )

    listing = cli("list")
    assert listing.returncode == 0 and "orders" in listing.stdout and "monolith" in listing.stdout
    assert (
        cli("set", "orders", "--mode", "canary", "--percent", "10", "--upstream", "svc").returncode
        == 0
    )
    shown = cli("show", "orders").stdout
    assert "mode: canary" in shown and "percent: 10.0" in shown and "upstream: svc" in shown
    bad = cli("set", "orders", "--upstream", "nowhere")
    assert bad.returncode == 1 and "upstream: unknown upstream" in bad.stdout
    assert "upstream: svc" in cli("show", "orders").stdout  # unchanged
    assert cli("set", "missing", "--mode", "shadow").returncode == 1
    assert cli("validate").returncode == 0


def test_cli_sets_and_removes_a_routes_rate_limit(tmp_path, monolith):
    path = tmp_path / "routes.yaml"
    path.write_text(
        routes_yaml(
            {"monolith": upstream_spec(monolith.url)},
            [{"name": "orders", "prefix": "/api/v1/orders/"}],
        )
    )

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "strangler_proxy", "routes", *args, "--file", str(path)],
            capture_output=True,
            text=True,
        )

    def limit():
        return load_table(path).route("orders").rate_limit

    assert cli("set", "orders", "--rate-limit", "5/60").returncode == 0
    assert limit() == RateLimit(requests=5, per=60, key="client")
    assert cli("set", "orders", "--rate-limit", "3/10/user").returncode == 0
    assert limit() == RateLimit(requests=3, per=10, key="user")
    for bad in ("5", "0/60", "5/sixty", "5/60/ip", "-1/60"):
        refused = cli("set", "orders", "--rate-limit", bad)
        assert refused.returncode == 2 and "--rate-limit" in refused.stderr, bad
    assert limit() == RateLimit(requests=3, per=10, key="user")  # unchanged
    assert cli("set", "orders", "--rate-limit", "none").returncode == 0
    assert limit() is None


def test_a_route_may_allow_bigger_bodies_than_the_proxy_default(make_proxy, monolith):
    routes = [
        {"name": "uploads", "prefix": "/uploads/", "max_body": 3 * 1024 * 1024},
        {"name": "rest", "prefix": "/"},
    ]
    client = _client(make_proxy, monolith, routes)  # the proxy's own cap here: 1 MiB
    upload = b"x" * (2 * 1024 * 1024)
    kind = "application/octet-stream"
    assert client.post("/uploads/file", upload, content_type=kind).status_code == 200
    assert base64.b64decode(monolith.received[-1]["body"]) == upload
    refused = client.post("/api/x", upload, content_type=kind)
    assert refused.status_code == 413
    assert "1048576 bytes" in json.loads(refused.content)["detail"]


def test_a_browser_gets_the_proxys_refusals_as_a_page_an_api_client_as_problem_json(
    make_proxy, monolith
):
    client = _client(make_proxy, monolith, [{"name": "rest", "prefix": "/"}])
    big = b"x" * (2 * 1024 * 1024)
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    page = client.post(
        "/documents/upload/",
        big,
        content_type="multipart/form-data; boundary=b",
        HTTP_ACCEPT=browser,
        HTTP_X_REQUEST_ID="req-<script>",
    )
    assert page.status_code == 413
    assert page["Content-Type"].startswith("text/html")
    assert b"<h1>413 " in page.content and b"exceeds 1048576 bytes" in page.content
    assert b"<script>" not in page.content  # what the client sent is escaped
    for accept in ("application/json", "*/*", "", "application/json, text/html"):
        api = client.post("/api/x", big, content_type="application/json", HTTP_ACCEPT=accept)
        assert api["Content-Type"] == "application/problem+json", accept
        assert json.loads(api.content)["code"] == "payload_too_large"


def test_a_token_the_edge_cannot_check_for_want_of_keys_is_a_503_not_a_401(
    make_proxy, monolith, make_token
):
    from tests.support.processes import free_port

    routes = [{"name": "me", "prefix": "/api/me", "auth": "required"}]
    dead_jwks = f"http://127.0.0.1:{free_port()}/.well-known/jwks.json"
    client = make_proxy(
        routes_yaml({"monolith": upstream_spec(monolith.url)}, routes), JWKS_URL=dead_jwks
    )
    answer = client.get("/api/me", HTTP_AUTHORIZATION=f"Bearer {make_token(sub='7')}")
    assert answer.status_code == 503
    assert int(answer["Retry-After"]) >= 1
    assert json.loads(answer.content)["code"] == "verifier_unavailable"
    assert monolith.received == []
