"""The route table compiled to nginx (issue 16): a real nginx from Debian's package in front
of fake upstreams decides as the Python proxy does (routes/resolve.py)."""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import subprocess
import sys
import time

import pytest
import urllib3

from strangler_proxy.export.nginx import NginxOptions, render
from strangler_proxy.lifecycle.evidence import Counter, counter_key, evidence_for
from strangler_proxy.lifecycle.nginx_log import AccessLogCounters
from strangler_proxy.lifecycle.stages import EXTRACTED
from strangler_proxy.routes import load_table, parse_table, resolve
from strangler_proxy.routes.resolve import in_canary, murmur2
from strangler_proxy.runtime import build_controller, get_runtime
from tests.proxy.conftest import ADMIN_TOKEN, routes_yaml, upstream_spec, write_routes
from tests.proxy.fakes import FakeUpstream
from tests.proxy.nginx_plane import NginxPlane, nginx_binary, nginx_test
from tests.proxy.processes import ProxyProcess
from tests.support.side_load import SideLoad
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e

SHIPPED = "strangler_proxy/routes.yaml"
DEAD = "http://127.0.0.1:9"  # discard port: connection refused, nothing sent
pool = urllib3.PoolManager(retries=False, timeout=10)


@pytest.fixture
def upstreams(start_upstream):
    """name -> a started FakeUpstream (it echoes what it got, X-Upstream names it)."""
    return {name: start_upstream(name) for name in ("monolith", "catalog", "orders", "users")}


def _plane(tmp_path, ups: dict, routes: list[dict], **options) -> NginxPlane:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = write_routes(tmp_path / "routes.yaml", routes_yaml(ups, routes))
    return NginxPlane(path, tmp_path / "nginx", **options)


def _spec(server: FakeUpstream | str | list[str], **extra) -> dict:
    return upstream_spec(server.url if isinstance(server, FakeUpstream) else server, **extra)


def _echo(response) -> dict:
    return json.loads(response.data)


def _header(record: dict, name: str) -> list[str]:
    return [v for k, v in record["headers"] if k.lower() == name.lower()]


# --- every feature, accepted by nginx -t -------------------------------------------------

EVERY_FEATURE = [
    {
        "name": "jwks",
        "prefix": "/.well-known/",
        "methods": ["GET"],
        "mode": "extracted",
        "upstream": "users",
        "timeout": {"connect": 0.5, "read": 3},
    },
    {
        "name": "sku",
        "pattern": "/api/v1/products/<str:sku>/inventory/",
        "methods": ["PUT"],
        "mode": "extracted",
        "upstream": "catalog",
        "fallback": "monolith",
        "retry": {"attempts": 3, "on_status": [502, 503]},
    },
    {
        "name": "uuid",
        "pattern": "/api/v1/things/<uuid:id>/*",
        "mode": "canary",
        "percent": 12.5,
        "upstream": "catalog",
        "fallback": "monolith",
    },
    {
        "name": "reads",
        "prefix": "/api/v1/products/",
        "methods": ["GET", "HEAD"],
        "mode": "shadow",
        "upstream": "catalog",
        "rate_limit": {"requests": 5, "per": 10},
    },
    {
        "name": "writes",
        "prefix": "/api/v1/products/",
        "mode": "canary",
        "percent": 100,
        "upstream": "catalog",
        "rate_limit": {"requests": 2, "per": 60, "key": "user"},
    },
    {
        "name": "files",
        "prefix": "/upload/",
        "mode": "extracted",
        "upstream": "orders",
        "max_body": 50_000_000,
        "auth": "required",
    },
    {"name": "zero", "prefix": "/zero/", "mode": "canary", "percent": 0, "upstream": "orders"},
    {"name": "rest", "prefix": "/", "mode": "monolith"},
]


def test_nginx_accepts_the_shipped_table_and_every_feature(tmp_path):
    binary = nginx_binary()
    ups = {
        n: _spec(f"http://127.0.0.1:{p}")
        for n, p in (("monolith", 18001), ("catalog", 18002), ("orders", 18004), ("users", 18005))
    }
    ups["orders"]["instances"].append("http://127.0.0.1:18014")
    ups["orders"]["balancer"] = "least_outstanding"
    ups["users"]["preserve_host"] = False  # the default is true
    tables = {
        "shipped": load_table(SHIPPED),
        "every": parse_table(routes_yaml(ups, EVERY_FEATURE)),
    }
    for name, table in tables.items():
        folder = tmp_path / name
        folder.mkdir()
        conf = folder / "nginx.conf"
        conf.write_text(render(table, NginxOptions(admin_only_paths=("/metrics", "/readyz"))))
        checked = nginx_test(binary, folder, conf)
        assert checked.returncode == 0, f"{name}: {checked.stderr}"
    every = render(tables["every"], NginxOptions())
    assert "split_clients" in every and "limit_req_zone" in every and "backup;" in every
    assert "exported as their primary side" in every  # the shadow route says what it is
    assert "mirror" not in every


def test_the_cli_writes_the_configuration(tmp_path):
    out = tmp_path / "nginx.conf"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "strangler_proxy",
            "export",
            "nginx",
            "--routes",
            SHIPPED,
            "--out",
            str(out),
            "--listen",
            "127.0.0.1:18080",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "listen 127.0.0.1:18080;" in out.read_text()
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "strangler_proxy",
            "export",
            "nginx",
            "--routes",
            str(tmp_path / "missing.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1 and "error:" in bad.stderr and "Traceback" not in bad.stderr


# --- routing: the same decisions as routes/resolve.py -------------------------------------

ROUTING = [
    {
        "name": "inventory",
        "pattern": "/api/v1/products/<str:sku>/inventory/",
        "methods": ["PUT"],
        "mode": "extracted",
        "upstream": "orders",
    },
    {
        "name": "by-id",
        "pattern": "/api/v1/products/<int:pk>/",
        "methods": ["GET"],
        "mode": "extracted",
        "upstream": "users",
    },
    {
        "name": "products-read",
        "prefix": "/api/v1/products/",
        "methods": ["GET", "HEAD"],
        "mode": "extracted",
        "upstream": "catalog",
    },
    {
        "name": "products-write",
        "prefix": "/api/v1/products/",
        "methods": ["POST", "DELETE"],
        "mode": "monolith",
        "upstream": "catalog",
    },
    {"name": "orders", "prefix": "/api/v1/orders/", "mode": "extracted", "upstream": "orders"},
    {"name": "shadowed", "prefix": "/api/v1/shadowed/", "mode": "shadow", "upstream": "orders"},
]

REQUESTS = [
    ("GET", "/api/v1/products/"),
    ("HEAD", "/api/v1/products/"),
    ("GET", "/api/v1/products/12/"),
    ("HEAD", "/api/v1/products/12/"),
    ("GET", "/api/v1/products/abc/"),
    ("GET", "/api/v1/products/12/extra/"),
    ("PUT", "/api/v1/products/A-1/inventory/"),
    ("PUT", "/api/v1/products/A-1/inventory/x"),
    ("GET", "/api/v1/products/A-1/inventory/"),
    ("POST", "/api/v1/products/"),
    ("DELETE", "/api/v1/products/9/"),
    ("PATCH", "/api/v1/products/9/"),
    ("OPTIONS", "/api/v1/products/"),
    ("POST", "/api/v1/orders/"),
    ("GET", "/api/v1/orders/7/?page=2"),
    ("GET", "/api/v1/ordersx"),
    ("GET", "//api/v1/orders/"),
    ("GET", "/api/v1//orders/"),
    ("GET", "/api/v1/shadowed/1/"),
    ("GET", "/"),
    ("GET", "/other/deep/path"),
]


def test_routing_matches_the_python_planes_decisions(tmp_path, upstreams):
    ups = {name: _spec(server) for name, server in upstreams.items()}
    with _plane(tmp_path, ups, ROUTING) as plane:
        table = load_table(plane.routes)
        for method, target in REQUESTS:
            response = pool.request(method, plane.url + target)
            decision = resolve(table, method=method, path=target.split("?")[0])
            assert response.status == 200, (method, target, response.status)
            got = response.headers.get("X-Upstream")
            assert got == decision.target, (method, target, got, decision.route_name)
        # a dot or an encoded one inside a name is no dot-segment: served, as by the Python proxy
        for target in ("/api/v1/orders/file.v2%2Ejson", "/api/v1/orders/..x/"):
            assert pool.request("GET", plane.url + target).status == 200, target
        # the raw target reaches the upstream as sent, query string included
        record = _echo(pool.request("GET", plane.url + "/api/v1/orders/7/?page=2&q=a%20b"))
        assert record["target"] == "/api/v1/orders/7/?page=2&q=a%20b"


@pytest.mark.parametrize(
    "target",
    [
        "/api/%2e%2e/admin/",
        "/api/v1/products/..%2fadmin",
        "/a/%252e%252E/b",
        "/a\\b",
        "/a/.%2e",
        "/a/%0d%0aSet-Cookie:x",
        "/a/./b",
    ],
)
def test_targets_the_python_proxy_refuses_are_refused(tmp_path, upstreams, target):
    ups = {name: _spec(server) for name, server in upstreams.items()}
    with _plane(tmp_path, ups, ROUTING) as plane:
        # http.client sends the target as written (urllib3 would remove dot-segments first)
        connection = http.client.HTTPConnection("127.0.0.1", plane.port, timeout=10)
        connection.request("GET", target)
        response = connection.getresponse()
        assert response.status == 400
        assert response.getheader("Content-Type") == "application/problem+json"
        assert json.loads(response.read())["code"] == "unsafe_request"
        connection.close()
        assert all(server.received == [] for server in upstreams.values())


# --- canary: a user sees the same side on both planes -------------------------------------


def test_murmur2_is_nginx_murmurhash2():
    # values printed by nginx's ngx_murmur_hash2 (src/core/ngx_murmurhash.c) compiled as is:
    # every tail length, and UTF-8
    cases = {
        "": 0,
        "a": 2456313694,
        "ab": 446775395,
        "abc": 324500635,
        "abcd": 646393889,
        "orders:127.0.0.1": 2683817308,
        "catalog-products-read:s0001x7919": 1916924753,
        "été": 3166621950,
    }
    assert {text: murmur2(text.encode()) for text in cases} == cases


def test_canary_sides_agree_with_the_python_plane_per_user(tmp_path, upstreams):
    ups = {name: _spec(server) for name, server in upstreams.items()}
    route = {
        "name": "orders",
        "prefix": "/api/v1/orders/",
        "mode": "canary",
        "percent": 37.5,
        "upstream": "orders",
    }
    with _plane(tmp_path, ups, [route]) as plane:
        table = load_table(plane.routes)
        sides = []
        for user in range(300):
            session = f"s{user:04d}x{user * 7919}"
            response = pool.request(
                "GET", plane.url + "/api/v1/orders/", headers={"Cookie": f"sessionid={session}"}
            )
            python = resolve(table, method="GET", path="/api/v1/orders/", sticky_key=session)
            assert response.headers["X-Upstream"] == python.target, session
            assert python.target == ("orders" if in_canary("orders", session, 37.5) else "monolith")
            sides.append(python.target)
        assert 0.25 < sides.count("orders") / len(sides) < 0.5  # both sides are exercised
        # anonymous: the client's address is the key on both planes
        anonymous = pool.request("GET", plane.url + "/api/v1/orders/")
        python = resolve(table, method="GET", path="/api/v1/orders/", sticky_key="127.0.0.1")
        assert anonymous.headers["X-Upstream"] == python.target
        # the tester override is off: the header neither moves the user nor reaches upstream
        for wanted in ("candidate", "primary"):
            forced = pool.request(
                "GET",
                plane.url + "/api/v1/orders/",
                headers={"X-Strangler-Canary": wanted, "Cookie": "sessionid=s0001x7919"},
            )
            assert forced.headers["X-Upstream"] == sides[1]
            assert _header(_echo(forced), "X-Strangler-Canary") == []


# --- resilience: retries for safe methods only, fallback when nothing reached the candidate --


def _two_instances(tmp_path, upstreams, first, second, *, fail_max: int) -> NginxPlane:
    """`/api/` on an upstream of two instances, 2 attempts, `max_fails` from `fail_max`."""
    ups = {
        "monolith": _spec(upstreams["monolith"]),
        "service": _spec(
            [first.url, second.url],
            retry={"attempts": 2},
            breaker={"fail_max": fail_max, "reset_timeout": 30},
        ),
    }
    route = {"name": "api", "prefix": "/api/", "mode": "extracted", "upstream": "service"}
    return _plane(tmp_path, ups, [route])


def test_retries_only_for_safe_methods(tmp_path, start_upstream, upstreams):
    bad = start_upstream("bad", lambda handler, record: (503, b'{"bad": 1}'))
    good = start_upstream("good")
    with _two_instances(tmp_path, upstreams, bad, good, fail_max=1000) as plane:
        for _ in range(6):
            assert pool.request("GET", plane.url + "/api/x").status == 200
        assert any(r["method"] == "GET" for r in bad.received)  # the 503 was retried
        statuses = [pool.request("POST", plane.url + "/api/x", body=b"{}").status for _ in range(6)]
        statuses += [
            pool.request("PATCH", plane.url + "/api/x", body=b"{}").status for _ in range(6)
        ]
        writes = [r for r in bad.received + good.received if r["method"] in ("POST", "PATCH")]
        assert len(writes) == 12  # each write reached one instance once: never resent
        assert 503 in statuses  # the bad instance's answer came back as it was


def test_a_handovers_write_freeze_never_marks_an_instance_down(tmp_path, start_upstream, upstreams):
    """A service in a handover's write freeze answers writes 503 with its own Retry-After (it
    asks the client to wait). nginx cannot read that header where it counts failures, so the
    plane never counts a write's 503 or 429: otherwise `max_fails` of them would take every
    instance out and the reads, which the freeze does not stop, would get 502 meanwhile."""

    def freezing(handler, record):
        if record["method"] == "GET":
            return None  # reads are served as usual (the fake's echo)
        return 503, b'{"code": "owner_moving"}', [("Retry-After", "1")]

    first = start_upstream("first", freezing)
    second = start_upstream("second", freezing)
    with _two_instances(tmp_path, upstreams, first, second, fail_max=2) as plane:
        for method in ("PATCH", "POST", "PUT", "DELETE") * 2:
            frozen = pool.request(method, plane.url + "/api/x", body=b"{}")
            assert frozen.status == 503 and frozen.headers["Retry-After"] == "1"
            assert _echo(frozen) == {"code": "owner_moving"}  # the service's own answer
        reads = [pool.request("GET", plane.url + "/api/x") for _ in range(6)]
        assert [r.status for r in reads] == [200] * 6
        assert {r.headers["X-Upstream"] for r in reads} == {"first", "second"}


def test_fallback_to_the_monolith(tmp_path, start_upstream, upstreams):
    monolith = upstreams["monolith"]
    failing = start_upstream("failing", lambda handler, record: (503, b'{"down": 1}'))
    for candidate, sent in ((DEAD, False), (failing.url, True)):
        monolith.received.clear()
        ups = {"monolith": _spec(monolith), "service": _spec(candidate)}
        route = {
            "name": "api",
            "prefix": "/api/",
            "mode": "extracted",
            "upstream": "service",
            "fallback": "monolith",
        }
        with _plane(tmp_path / str(sent), ups, [route]) as plane:
            read = pool.request("GET", plane.url + "/api/x")
            assert read.status == 200 and read.headers["X-Upstream"] == "monolith"
            write = pool.request("POST", plane.url + "/api/x", body=b"{}")
            if sent:  # the candidate answered: its answer stands, the write is not resent
                assert write.status == 503 and _echo(write) == {"down": 1}
                assert [r["method"] for r in monolith.received] == ["GET"]
            else:  # nothing reached the candidate: the monolith takes it
                assert write.status == 200 and write.headers["X-Upstream"] == "monolith"
                assert [r["method"] for r in monolith.received] == ["GET", "POST"]


def test_a_write_that_timed_out_is_not_resent_to_the_fallback(tmp_path, start_upstream, upstreams):
    monolith = upstreams["monolith"]

    def slow(handler, record):
        time.sleep(1.0)
        return 201, b"{}"

    service = start_upstream("service", slow)
    ups = {"monolith": _spec(monolith), "service": _spec(service)}
    route = {
        "name": "api",
        "prefix": "/api/",
        "mode": "extracted",
        "upstream": "service",
        "fallback": "monolith",
        "timeout": {"connect": 1, "read": 0.3},
    }
    with _plane(tmp_path, ups, [route]) as plane:
        write = pool.request("POST", plane.url + "/api/x", body=b"{}")
        assert write.status == 504  # as the Python proxy answers it
        assert write.headers["Content-Type"] == "application/problem+json"
        assert _echo(write)["code"] == "upstream_timeout"
        read = pool.request("GET", plane.url + "/api/x")  # a read falls back after a timeout
        assert read.status == 200 and read.headers["X-Upstream"] == "monolith"
        assert [r["method"] for r in monolith.received] == ["GET"]


def test_no_fallback_when_the_candidate_is_down_and_the_route_has_none(tmp_path, upstreams):
    ups = {"monolith": _spec(upstreams["monolith"]), "service": _spec(DEAD)}
    route = {"name": "api", "prefix": "/api/", "mode": "extracted", "upstream": "service"}
    with _plane(tmp_path, ups, [route]) as plane:
        response = pool.request("GET", plane.url + "/api/x")
        assert response.status == 502
        assert response.headers["Content-Type"] == "application/problem+json"
        assert upstreams["monolith"].received == []


# --- the edge: 429, 413, request ids, X-Forwarded-* ---------------------------------------


def test_rate_limit_answers_429_with_retry_after(tmp_path, upstreams):
    ups = {"monolith": _spec(upstreams["monolith"])}
    route = {
        "name": "api",
        "prefix": "/api/",
        "mode": "monolith",
        "rate_limit": {"requests": 3, "per": 60},
    }
    with _plane(tmp_path, ups, [route]) as plane:
        statuses = [pool.request("GET", plane.url + "/api/x").status for _ in range(3)]
        assert statuses == [200, 200, 200]
        limited = pool.request("GET", plane.url + "/api/x", headers={"X-Request-ID": "rl-1"})
        assert limited.status == 429
        assert limited.headers["Retry-After"] == "20"
        assert limited.headers["Content-Type"] == "application/problem+json"
        assert _echo(limited)["code"] == "rate_limited" and _echo(limited)["request_id"] == "rl-1"
        assert pool.request("GET", plane.url + "/other").status == 200  # other routes unlimited
        assert len(upstreams["monolith"].received) == 4


def test_body_limit_answers_413(tmp_path, upstreams):
    ups = {"monolith": _spec(upstreams["monolith"])}
    routes = [
        {"name": "big", "prefix": "/upload/", "mode": "monolith", "max_body": 100_000},
        {"name": "rest", "prefix": "/", "mode": "monolith"},
    ]
    with _plane(tmp_path, ups, routes, max_body=1000) as plane:
        small = pool.request("POST", plane.url + "/api/x", body=b"x" * 1000)
        assert small.status == 200
        refused = pool.request("POST", plane.url + "/api/x", body=b"x" * 1001)
        assert refused.status == 413 and _echo(refused)["code"] == "payload_too_large"
        assert pool.request("POST", plane.url + "/upload/x", body=b"x" * 50_000).status == 200
        chunked = pool.request(
            "POST", plane.url + "/api/x", body=iter([b"x" * 800] * 3), chunked=True
        )
        assert chunked.status == 413
        assert [len(r["body"]) for r in upstreams["monolith"].received] == [1336, 66668]


def test_request_id_is_taken_or_made_passed_on_and_echoed(tmp_path, upstreams):
    ups = {"monolith": _spec(upstreams["monolith"])}
    with _plane(tmp_path, ups, [{"name": "all", "prefix": "/", "mode": "monolith"}]) as plane:
        given = pool.request("GET", plane.url + "/x", headers={"X-Request-ID": "abc-123.Z:9"})
        # once: the upstream echoes it too (as every service does), the edge's copy alone leaves
        assert given.headers.getlist("X-Request-ID") == ["abc-123.Z:9"]
        assert _header(_echo(given), "X-Request-ID") == ["abc-123.Z:9"]
        for sent in ({}, {"X-Request-ID": "bad id <script>"}, {"X-Request-ID": "x" * 129}):
            made = pool.request("GET", plane.url + "/x", headers=sent)
            [echoed] = made.headers.getlist("X-Request-ID")
            assert re.fullmatch(r"[0-9a-f]{32}", echoed), echoed
            assert _header(_echo(made), "X-Request-ID") == [echoed]


def test_forwarded_headers_are_set_by_the_edge_never_passed_through(tmp_path, upstreams):
    ups = {"monolith": _spec(upstreams["monolith"])}
    with _plane(tmp_path, ups, [{"name": "all", "prefix": "/", "mode": "monolith"}]) as plane:
        forged = {
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "evil.example",
            "Forwarded": "for=6.6.6.6",
            "Host": "shop.example",
        }
        record = _echo(pool.request("GET", plane.url + "/x", headers=forged))
        assert _header(record, "X-Forwarded-For") == ["127.0.0.1"]
        assert _header(record, "X-Forwarded-Proto") == ["http"]
        assert _header(record, "X-Forwarded-Host") == ["shop.example"]
        assert _header(record, "Forwarded") == []


# --- flips stay live: a route change regenerates the configuration and reloads nginx -------


def test_flips_by_the_cli_reload_nginx_and_lose_no_request(tmp_path, upstreams):
    ups = {"monolith": _spec(upstreams["monolith"]), "catalog": _spec(upstreams["catalog"])}
    route = {
        "name": "products",
        "prefix": "/api/v1/products/",
        "mode": "monolith",
        "upstream": "catalog",
    }
    with _plane(tmp_path, ups, [route]) as plane:
        env = {
            **os.environ,
            "STRANGLER_NGINX_CONF": str(plane.conf),
            "STRANGLER_NGINX_RELOAD": shlex.join(plane.command("-s", "reload")),
            "STRANGLER_NGINX_LISTEN": plane.options.listen,
        }
        cli = [
            sys.executable,
            "-m",
            "strangler_proxy",
            "routes",
            "set",
            "products",
            "--file",
            str(plane.routes),
        ]
        # a new connection per request: a failure here is a request nginx lost, not one racing
        # the close of an idle kept-alive connection (which HTTP clients retry)
        url = plane.url + "/api/v1/products/1/"
        with SideLoad(url, fresh_connections=True) as load:
            load.wait_until_all("monolith")
            for mode in ("extracted", "monolith", "extracted"):
                done = subprocess.run(
                    [*cli, "--mode", mode], env=env, capture_output=True, text=True, check=False
                )
                assert done.returncode == 0, done.stdout + done.stderr
                load.wait_until_all("catalog" if mode == "extracted" else "monolith")
            done = subprocess.run(
                [*cli, "--mode", "canary", "--percent", "50"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            time.sleep(1.0)
        assert load.failures == [], load.failures[:5]
        assert len(load.seen) > 100
        assert "split_clients" in plane.conf.read_text()  # the canary reached nginx's file
        # a reload that fails leaves the change in the file (the Python plane serves it) and
        # says so loudly
        env["STRANGLER_NGINX_RELOAD"] = "false"
        done = subprocess.run(
            [*cli, "--mode", "monolith"], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0
        assert "nginx plane was not reloaded" in done.stderr
        assert load_table(plane.routes).route("products").mode == "monolith"


def test_operational_paths_are_kept_from_the_public(tmp_path, upstreams):
    ups = {"monolith": _spec(upstreams["monolith"])}
    routes = [{"name": "all", "prefix": "/", "mode": "monolith"}]
    with _plane(tmp_path, ups, routes, admin_only_paths=("/metrics", "/api/docs/")) as plane:
        for path in ("/metrics", "/metrics/x", "/api/docs", "/api/docs/ui"):
            response = pool.request("GET", plane.url + path)
            assert response.status == 404, path
            assert _echo(response)["code"] == "not_found"
        assert pool.request("GET", plane.url + "/metricsx").status == 200
        assert [r["target"] for r in upstreams["monolith"].received] == ["/metricsx"]


# --- shadow: nginx mirrors reads to the Python proxy, which compares as it always does -----


def test_shadow_reads_are_mirrored_to_the_python_comparator(tmp_path, upstreams):
    monolith, catalog = upstreams["monolith"], upstreams["catalog"]
    ups = {"monolith": _spec(monolith), "catalog": _spec(catalog)}
    route = {
        "name": "products",
        "prefix": "/api/v1/products/",
        "mode": "shadow",
        "upstream": "catalog",
        "shadow": {"ignore_fields": ["headers"]},
    }
    routes = write_routes(tmp_path / "routes.yaml", routes_yaml(ups, [route]))
    admin = {"Authorization": "Bearer nginx-plane-admin"}
    env = {"STRANGLER_ADMIN_TOKEN": "nginx-plane-admin"}
    with (
        ProxyProcess(routes, data_dir=tmp_path / "proxy", env=env, workers=1) as proxy,
        NginxPlane(routes, tmp_path / "nginx", comparator=proxy.url) as plane,
    ):
        assert "mirror /__strangler_mirror;" in plane.conf.read_text()
        response = pool.request(
            "GET", plane.url + "/api/v1/products/1/", headers={"X-Request-ID": "mirrored-1"}
        )
        assert response.status == 200 and response.headers["X-Upstream"] == "monolith"

        def recorded() -> list:
            report = pool.request("GET", proxy.url + "/_strangler/shadow", headers=admin)
            return _echo(report)["recent_differences"]

        diff = wait_for(recorded, timeout=30, what="the comparator's recorded difference")[0]
        assert diff["route"] == "products" and diff["request_id"] == "mirrored-1"
        assert any(d.startswith("server:") for d in diff["differences"])
        assert [r["method"] for r in catalog.received] == ["GET"]
        shadowed = dict(catalog.received[0]["headers"])
        assert shadowed["X-Strangler-Shadow"] == "1"
        # an id nginx made is the one the comparator records
        made = pool.request("GET", plane.url + "/api/v1/products/2/")
        made_id = made.headers["X-Request-ID"]
        wait_for(
            lambda: any(d["request_id"] == made_id for d in recorded()),
            timeout=30,
            what="the difference recorded under nginx's id",
        )
        catalog.received.clear()
        # a write is never mirrored: the candidate would commit it a second time
        assert pool.request("POST", plane.url + "/api/v1/products/", body=b"{}").status == 200
        # a read after it is mirrored (a mirrored write would have reached the comparator first)
        pool.request("GET", plane.url + "/api/v1/products/3/")
        wait_for(lambda: catalog.received, timeout=30, what="the next read's shadow copy")
        assert [r["method"] for r in catalog.received] == ["GET"]
        assert [r["method"] for r in monolith.received].count("POST") == 1
        # the Python proxy's own paths are its to answer behind nginx too (the admin API here)
        through = pool.request("GET", plane.url + "/_strangler/shadow", headers=admin)
        assert through.status == 200 and "recent_differences" in _echo(through)
        assert not any(r["target"].startswith("/_strangler/") for r in monolith.received)


def test_a_change_through_the_admin_api_regenerates_and_reloads(tmp_path, make_proxy, upstreams):
    conf, marker = tmp_path / "edge" / "nginx.conf", tmp_path / "reloaded"
    ups = {"monolith": _spec(upstreams["monolith"]), "catalog": _spec(upstreams["catalog"])}
    route = {"name": "p", "prefix": "/p/", "mode": "monolith", "upstream": "catalog"}
    client = make_proxy(
        routes_yaml(ups, [route]),
        NGINX_CONF=str(conf),
        NGINX_RELOAD=shlex.join(["touch", str(marker)]),
        NGINX_LISTEN="127.0.0.1:18099",
    )
    response = client.patch(
        "/_strangler/routes/p",
        data=json.dumps({"mode": "canary", "percent": 25}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {ADMIN_TOKEN}",
    )
    assert response.status_code == 200, response.content
    text = conf.read_text()
    assert 'split_clients "p:$strangler_sticky"' in text and "25.00% candidate;" in text
    assert "listen 127.0.0.1:18099;" in text
    assert marker.exists()
    checked = nginx_test(nginx_binary(), conf.parent, conf)
    assert checked.returncode == 0, checked.stderr


# --- the lifecycle gates' evidence from nginx's access log -------------------------------------


def test_the_lifecycle_gates_count_what_nginx_served(
    tmp_path, start_upstream, upstreams, make_proxy
):
    # given: a candidate that fails one request in three, a route that falls back for reads
    served = {"n": 0}

    def flaky(handler, record):
        served["n"] += 1
        return (500, b'{"boom": 1}') if served["n"] % 3 == 0 else None

    candidate = start_upstream("candidate", flaky)
    ups = {
        "monolith": _spec(upstreams["monolith"]),
        "service": _spec(candidate),
        "dead": _spec(DEAD),
    }
    routes = [
        {"name": "items", "prefix": "/api/items/", "mode": "extracted", "upstream": "service"},
        {
            "name": "down",
            "prefix": "/api/down/",
            "mode": "extracted",
            "upstream": "dead",
            "fallback": "monolith",
        },
        {"name": "rest", "prefix": "/", "mode": "monolith", "upstream": "service"},
    ]
    with _plane(tmp_path, ups, routes) as plane:
        log = plane.folder / "access.log"
        # (the Python proxy beside the plane, whose control centre samples what nginx logs)
        control = make_proxy(routes_yaml(ups, routes), NGINX_ACCESS_LOG=str(log))
        runtime = get_runtime()
        runtime.series.add(runtime.read_sample())
        # when: 9 reads on the candidate, 4 that fall back, 5 on the primary
        statuses = [pool.request("GET", f"{plane.url}/api/items/{i}").status for i in range(9)]
        fell = [pool.request("GET", f"{plane.url}/api/down/{i}").status for i in range(4)]
        for i in range(5):
            assert pool.request("GET", f"{plane.url}/page/{i}").status == 200
        wait_for(lambda: len(log.read_text().splitlines()) >= 18, timeout=10, what="18 log lines")
        runtime.series.add(runtime.read_sample())

        # then: the gates' evidence is what nginx served, read from its log alone
        controller = build_controller(
            routes_file=plane.routes,
            folder=tmp_path / "lifecycle",
            read_snapshot=dict,  # no Python proxy served anything
            nginx_access_log=str(log),
        )
        window = controller.read_snapshot()
    assert statuses.count(500) == 3 and fell == [200] * 4

    def evidence(route: str, upstream: str):
        return evidence_for(
            window,
            route=route,
            stage=EXTRACTED,
            candidate=upstream,
            primary="monolith",
            window_seconds=60,
        )

    items = evidence("items", "service")
    assert (items.requests, items.errors) == (9, 3)
    assert items.p99_ms is not None and items.p99_ms > 0
    down = evidence("down", "dead")
    assert (down.requests, down.errors) == (4, 4)  # every one fell back: the candidate failed
    assert window[counter_key(Counter.REQUESTS, "rest", "monolith", "200")] == 5
    # the control centre plots the same traffic (the in-process registry may hold earlier
    # tests' counts of other routes: these routes' increase is nginx's alone)
    plotted = control.get("/_strangler/series", HTTP_AUTHORIZATION=f"Bearer {ADMIN_TOKEN}")
    assert plotted.status_code == 200
    totals = {name: row["totals"] for name, row in plotted.json()["routes"].items()}
    assert totals["items"] == {"service": {"requests": 9, "errors": 3}}
    assert totals["down"] == {"monolith": {"requests": 4, "errors": 0}}
    assert totals["rest"] == {"monolith": {"requests": 5, "errors": 0}}
    assert [
        p["sides"]["service"]["p99_ms"] > 0 for p in plotted.json()["routes"]["items"]["points"]
    ] == [True]
    # a restarted reader counts the same from the file; a truncated file starts again
    again = AccessLogCounters(log, lambda: load_table(plane.routes))
    assert again() == window
    log.write_text("")
    assert again() == {}


def test_the_access_log_reader_skips_what_it_cannot_read(tmp_path):
    table = parse_table(
        routes_yaml(
            {"monolith": upstream_spec("http://127.0.0.1:9"), "svc": upstream_spec(DEAD)},
            [{"name": "r", "prefix": "/r/", "mode": "extracted", "upstream": "svc"}],
        )
    )
    log = tmp_path / "access.log"
    good = {"route": "r", "side": "candidate", "status": 200, "duration": 0.002, "upstream": "-"}
    log.write_text(
        "not json\n"
        + json.dumps({"route": "r"})
        + "\n"
        + json.dumps({**good, "route": "gone"})
        + "\n"
        + json.dumps(good)
        + "\n"
        + json.dumps(good)[:20]  # a line nginx is still writing
    )
    counters = AccessLogCounters(log, lambda: table)
    assert counters()[counter_key(Counter.REQUESTS, "r", "svc", "200")] == 1
    with log.open("a") as handle:
        handle.write(json.dumps(good)[20:] + "\n")
    assert counters()[counter_key(Counter.REQUESTS, "r", "svc", "200")] == 2
