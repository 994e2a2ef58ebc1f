"""Through a real proxy process: one JSON line per request, and the proxy's own lines (a
fallback warning) carry the same request id."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.proxy.conftest import routes_yaml, upstream_spec
from tests.proxy.processes import ProxyProcess
from tests.support.wait import wait_for

DEAD = "http://127.0.0.1:9"  # discard port: connection refused


def _routes(monolith_url: str) -> str:
    return routes_yaml(
        {"monolith": upstream_spec(monolith_url), "service": upstream_spec(DEAD)},
        [
            {
                "name": "products",
                "prefix": "/api/v1/products/",
                "mode": "extracted",
                "upstream": "service",
                "fallback": "monolith",
            }
        ],
    )


def _get(url: str, request_id: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"X-Request-ID": request_id})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def _lines(proxy: ProxyProcess) -> list[dict]:
    out = []
    for line in proxy.output().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _proxy(tmp_path, monolith_url: str, **env: str) -> ProxyProcess:
    routes = tmp_path / "routes.yaml"
    routes.write_text(_routes(monolith_url))
    return ProxyProcess(
        routes,
        data_dir=tmp_path,
        workers=1,
        env={"LOG_JSON": "true", "LOG_LEVEL": "INFO", "STRANGLER_HEALTH_CHECKS": "false", **env},
    )


def test_one_json_line_per_request_and_the_fallback_warning_carries_its_id(
    tmp_path, start_upstream
):
    # given: products extracted to a dead service, with the monolith as fallback
    monolith = start_upstream("monolith")
    with _proxy(tmp_path, monolith.url) as proxy:
        # when
        status, body = _get(
            f"{proxy.url}/api/v1/products/?q=mug&token=s3cr3t-value", "access-log-test-1"
        )
        assert status == 200

        # then
        def mine() -> list[dict]:
            return [x for x in _lines(proxy) if x.get("request_id") == "access-log-test-1"]

        lines = wait_for(
            lambda: len(mine()) >= 2 and mine(), timeout=10, interval=0.1, what="the lines"
        )

        # and: the request that opens the dead service's breaker (fail_max 3) is named in the
        # breaker's line
        ids = [f"access-log-breaker-{i}" for i in range(3)]
        for request_id in ids:
            _get(f"{proxy.url}/api/v1/products/", request_id)
        opened = wait_for(
            lambda: [
                x
                for x in _lines(proxy)
                if x.get("event") == "breaker.state_changed" and x.get("new") == "open"
            ],
            timeout=10,
            interval=0.1,
            what="the breaker's line",
        )
    assert opened[0]["breaker"] == "service" and opened[0]["request_id"] in ids, opened
    access = [x for x in lines if x.get("logger") == "strangler_proxy.access"]
    assert len(access) == 1, lines
    line = access[0]
    assert line["event"] == "request"
    assert line["service"] == "strangler-proxy"
    assert (line["route"], line["upstream"], line["method"], line["status"]) == (
        "products",
        "monolith",
        "GET",
        200,
    )
    assert line["path"].startswith("/api/v1/products/?q=mug&token=")
    assert "s3cr3t-value" not in json.dumps(lines)
    assert line["bytes"] == len(body)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    fallback = [x for x in lines if x.get("level") == "warning" and "fallback" in x["event"]]
    assert fallback, lines
    # Gunicorn's own access log is off: no other line names the request.
    others = [x for x in proxy.output().splitlines() if not x.startswith("{")]
    assert not [x for x in others if "/api/v1/products/" in x], others


@pytest.mark.parametrize("switch", ["false"])
def test_the_access_log_switches_off_for_benchmarks(tmp_path, start_upstream, switch):
    monolith = start_upstream("monolith")
    with _proxy(tmp_path, monolith.url, STRANGLER_PROXY_ACCESS_LOG=switch) as proxy:
        _get(f"{proxy.url}/anything", "access-log-off-1")
        _get(f"{proxy.url}/anything", "access-log-off-2")
    assert not [x for x in _lines(proxy) if x.get("logger") == "strangler_proxy.access"]
    assert "/anything" not in proxy.output()


@pytest.mark.parametrize("server", ["granian", "uvicorn", "gunicorn"])
def test_access_lines_are_written_in_batches_and_none_is_lost_at_a_stop(
    tmp_path, start_upstream, server
):
    # given: batches written a minute apart (STRANGLER_PROXY_ACCESS_LOG_FLUSH)
    monolith = start_upstream("monolith")
    proxy = _proxy(tmp_path, monolith.url, STRANGLER_PROXY_ACCESS_LOG_FLUSH="60")
    proxy.server = server
    if server == "gunicorn":
        proxy.env.pop("STRANGLER_PROXY_SERVER", None)
    else:
        proxy.env["STRANGLER_PROXY_SERVER"] = server
    ids = [f"access-log-batch-{server}-{i}" for i in range(3)]
    with proxy:
        for request_id in ids:
            assert _get(f"{proxy.url}/anything", request_id)[0] == 200
        held = proxy.output()
        # when: it stops
    # then: the lines were held while it served, and written as its workers stopped
    assert not [i for i in ids if i in held], held
    access = [x for x in _lines(proxy) if x.get("logger") == "strangler_proxy.access"]
    assert sorted(x["request_id"] for x in access) == ids, proxy.output()
