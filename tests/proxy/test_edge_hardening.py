"""Lower edge findings: framing passed on, strict request lengths, HEAD routes, the canary
override, upstreams' operational endpoints, and closing after a cut-short body."""

from __future__ import annotations

import io

import pytest

from tests.proxy.conftest import ADMIN, routes_yaml, upstream_spec
from tests.proxy.test_upstream_client import Scripted


@pytest.fixture
def monolith(start_upstream):
    return start_upstream("monolith")


def _only_monolith(make_proxy, url, routes=(), **overrides):
    return make_proxy(routes_yaml({"monolith": upstream_spec(url)}, list(routes)), **overrides)


def test_a_chunked_answer_never_carries_its_content_length_to_the_client(make_proxy):
    upstream = Scripted(
        [
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: text/plain\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        ]
    )
    response = _only_monolith(make_proxy, upstream.url).get("/x")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body == b"abc"
    assert response.get("Content-Length") in (None, "3")
    upstream.close()


def test_a_non_ascii_digit_content_length_from_an_upstream_is_a_502(make_proxy):
    upstream = Scripted(["HTTP/1.1 200 OK\r\nContent-Length: \u00b2\r\n\r\nab".encode("latin-1")])
    assert _only_monolith(make_proxy, upstream.url).get("/x").status_code == 502
    upstream.close()


@pytest.mark.parametrize("length", ["\u00b2", "\u0663", "+3", "-1", "3 ", "0x3"])
def test_a_bad_request_content_length_is_a_400_problem(make_proxy, monolith, length):
    client = _only_monolith(make_proxy, monolith.url)
    response = client.generic(
        "POST", "/x", b"abc", content_type="text/plain", CONTENT_LENGTH=length
    )
    assert response.status_code == 400
    assert response.json()["code"] == "bad_content_length"
    assert response["Connection"] == "close"
    assert monolith.received == []


def test_head_follows_the_get_route_and_its_auth(make_proxy, monolith, make_token):
    route = {"name": "me", "prefix": "/api/me", "methods": ["GET"], "auth": "required"}
    client = _only_monolith(make_proxy, monolith.url, [route])
    assert client.head("/api/me").status_code == 401
    assert monolith.received == []
    token = make_token("7")
    assert client.head("/api/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    assert client.post("/api/me").status_code == 200  # not the route's method: unmatched


def _canary(make_proxy, pair, **overrides):
    monolith, service = pair
    route = {"name": "c", "prefix": "/", "mode": "canary", "upstream": "service", "percent": 0}
    return make_proxy(
        routes_yaml(
            {"monolith": upstream_spec(monolith.url), "service": upstream_spec(service.url)},
            [route],
        ),
        **overrides,
    )


@pytest.fixture
def pair(start_upstream):
    return start_upstream("monolith"), start_upstream("service")


def test_the_canary_override_is_off_by_default(make_proxy, pair):
    client = _canary(make_proxy, pair)
    forced = client.get("/x", HTTP_X_STRANGLER_CANARY="candidate", **ADMIN)
    assert forced["X-Upstream"] == "monolith"


def test_when_on_the_canary_override_is_for_staff_admin_or_the_secret(make_proxy, pair, make_token):
    client = _canary(make_proxy, pair, TRUST_CANARY_HEADER=True, CANARY_SECRET="tester-secret")
    force = {"HTTP_X_STRANGLER_CANARY": "candidate"}
    assert client.get("/x", **force)["X-Upstream"] == "monolith"
    customer = f"Bearer {make_token('8')}"
    assert client.get("/x", HTTP_AUTHORIZATION=customer, **force)["X-Upstream"] == "monolith"
    wrong = client.get("/x", HTTP_X_STRANGLER_CANARY_SECRET="guess", **force)
    assert wrong["X-Upstream"] == "monolith"
    assert client.get("/x", **ADMIN, **force)["X-Upstream"] == "service"
    staff = f"Bearer {make_token('7', is_staff=True)}"
    assert client.get("/x", HTTP_AUTHORIZATION=staff, **force)["X-Upstream"] == "service"
    tester = client.get("/x", HTTP_X_STRANGLER_CANARY_SECRET="tester-secret", **force)
    assert tester["X-Upstream"] == "service"


@pytest.mark.parametrize(
    "path", ["/metrics", "/readyz", "/api/schema/", "/api/schema/?format=json", "/api/docs/"]
)
def test_upstream_operational_endpoints_are_not_public(make_proxy, monolith, path):
    client = _only_monolith(make_proxy, monolith.url)
    assert client.get(path).status_code == 404
    assert monolith.received == []
    assert client.get(path, **ADMIN).status_code == 200  # operators still reach them


def test_liveness_stays_public(make_proxy, monolith):
    client = _only_monolith(make_proxy, monolith.url)
    assert client.get("/healthz").status_code == 200
    assert client.get("/metricsnot").status_code == 200  # only the endpoints themselves


def test_a_body_cut_short_is_answered_400_and_the_connection_closed(make_proxy, monolith):
    from strangler_proxy.runtime import get_proxy

    _only_monolith(make_proxy, monolith.url)
    reply = get_proxy().handle(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/x",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "edge",
            "CONTENT_LENGTH": "10",
            "wsgi.input": io.BytesIO(b"ab"),
            "wsgi.url_scheme": "http",
        }
    )
    assert reply.status == 400
    assert ("Connection", "close") in reply.headers
    assert monolith.received == []


def test_an_answer_cut_short_after_its_head_is_a_502_that_says_why(make_proxy):
    from structlog.testing import capture_logs

    # given an upstream that promises 100 bytes, sends 2 and closes
    upstream = Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nab"], close_after=True)
    # when a request is proxied to it
    with capture_logs() as logs:
        response = _only_monolith(make_proxy, upstream.url).get("/x")
    # then the client gets the problem, and the log names the cause (the upstream may have acted)
    assert response.status_code == 502 and response.json()["code"] == "upstream_protocol"
    broke = [e for e in logs if e["event"] == "upstream_body_broke_off"]
    assert broke and "98 body bytes missing" in broke[0]["error"], logs
    upstream.close()
