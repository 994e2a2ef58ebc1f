"""Under granian each request runs on its worker's event-loop thread (STRANGLER_PROXY_REQUESTS,
`cooperative` by default; strangler_proxy/edge/asgi.py): a request waiting for its upstream lends
the loop to the others, so one worker with one pool thread still has many requests in flight.
(`threads` runs each in a pool thread: as many in flight as there are threads.)"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.proxy.conftest import routes_yaml, upstream_spec, write_routes
from tests.proxy.fakes import FakeUpstream
from tests.proxy.processes import ProxyProcess
from tests.support.processes import cpu_seconds

IN_FLIGHT = 6


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("mode", "threads"),
    [("cooperative", 1), ("threads", IN_FLIGHT)],
    ids=["cooperative-one-thread", "threads-one-per-request"],
)
def test_requests_waiting_on_their_upstream_are_all_in_flight_at_once(tmp_path, mode, threads):
    """The upstream answers only once all six requests have reached it (a barrier): with one
    worker and one pool thread that happens only if no request holds the worker while it waits
    (under `threads` it takes a thread per request in flight)."""
    together = threading.Barrier(IN_FLIGHT, timeout=30)

    def behaviour(handler, record):
        if not record["target"].startswith("/together/"):
            return None
        try:
            together.wait()
        except threading.BrokenBarrierError:
            return 504, b"alone"
        return 200, b"together"

    upstream = FakeUpstream("monolith", behaviour).start()
    routes = write_routes(
        tmp_path / "routes.yaml",
        routes_yaml({"monolith": upstream_spec(upstream.url, timeout={"read": 60})}, []),
    )
    env = {"STRANGLER_PROXY_REQUESTS": mode, "STRANGLER_PROXY_THREADS": str(threads)}
    try:
        with (
            ProxyProcess(routes, data_dir=tmp_path, workers=1, env=env, server="granian") as px,
            ThreadPoolExecutor(IN_FLIGHT) as clients,
        ):
            answers = list(clients.map(lambda n: _get(px.port, f"/together/{n}"), range(IN_FLIGHT)))
    finally:
        upstream.stop()
    assert answers == [(200, b"together")] * IN_FLIGHT


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_idle_upstream_connections_the_upstream_closed_cost_the_worker_nothing(tmp_path, server):
    """A kept-alive upstream connection stays registered with the loop between requests
    (servicekit.web.cooperative.ReadWatch). One the upstream closes while it waits in the pool
    is readable with nobody reading it: it must be let go by the loop, whose level-triggered
    poll would otherwise call back on every turn (a worker spinning at 100 % while idle). The
    upstream here closes each connection right after its answer, without saying so."""

    def behaviour(handler, record):
        handler.close_connection = True  # no `Connection: close`: the proxy keeps it idle
        return None

    upstream = FakeUpstream("monolith", behaviour).start()
    routes = write_routes(
        tmp_path / "routes.yaml", routes_yaml({"monolith": upstream_spec(upstream.url)}, [])
    )
    try:
        with ProxyProcess(routes, data_dir=tmp_path, workers=1, server=server) as px:
            answers = [_get(px.port, f"/item/{n}")[0] for n in range(20)]
            time.sleep(0.5)  # every connection closed by the upstream, noticed by the loop
            before = cpu_seconds(px.process.pid)
            time.sleep(2)
            idle_cpu = cpu_seconds(px.process.pid) - before
            answers.append(_get(px.port, "/item/after")[0])
    finally:
        upstream.stop()
    assert answers == [200] * 21
    # a spinning worker burns the whole 2 s; an idle one reads its route file now and then
    assert idle_cpu < 0.5, f"the idle proxy used {idle_cpu:.2f} s of CPU in 2 s"


def test_an_unknown_request_mode_stops_the_start_with_its_name(tmp_path):
    routes = write_routes(
        tmp_path / "routes.yaml", routes_yaml({"monolith": upstream_spec("http://127.0.0.1:9")}, [])
    )
    env = {"STRANGLER_PROXY_REQUESTS": "greenlets"}
    with (
        pytest.raises(RuntimeError),
        ProxyProcess(routes, data_dir=tmp_path, workers=1, env=env, server="granian"),
    ):
        pass
    text = (tmp_path / "proxy.log").read_text(errors="replace")
    assert "STRANGLER_PROXY_REQUESTS='greenlets'" in text and "cooperative or threads" in text


@pytest.mark.integration
def test_redis_calls_leave_the_loop_and_their_answers_still_decide(tmp_path, redis_url):
    """Breaker state and rate-limit counters in Redis (round trips made in the pool, the loop
    free meanwhile): six first requests at once (the runtime and its Redis-backed breakers built
    while they wait) against a limit of 4 per client let 4 through, and a dead upstream's breaker
    (fail_max 2) is tripped by the second failure and stays open for the next request."""
    name = f"svc{uuid.uuid4().hex[:8]}"
    upstream = FakeUpstream("monolith").start()
    dead = upstream_spec("http://127.0.0.1:9", breaker={"fail_max": 2, "reset_timeout": 60})
    routes = write_routes(
        tmp_path / "routes.yaml",
        routes_yaml(
            {"monolith": upstream_spec(upstream.url), name: dead},
            [
                {"name": "dead", "prefix": "/dead/", "mode": "extracted", "upstream": name},
                {
                    "name": f"rl{uuid.uuid4().hex[:8]}",
                    "prefix": "/limited/",
                    "rate_limit": {"requests": 4, "per": 60},
                },
            ],
        ),
    )
    env = {"REDIS_URL": redis_url, "STRANGLER_PROXY_THREADS": "1"}
    try:
        with (
            ProxyProcess(routes, data_dir=tmp_path, workers=1, env=env, server="granian") as px,
            ThreadPoolExecutor(6) as clients,
        ):
            limited = list(clients.map(lambda n: _get(px.port, f"/limited/{n}")[0], range(6)))
            dead_answers = [_get(px.port, "/dead/x") for _ in range(3)]
    finally:
        upstream.stop()
    assert sorted(limited) == [200, 200, 200, 200, 429, 429]
    assert [status for status, _ in dead_answers] == [502, 503, 503]
    assert [json.loads(body)["code"] for _, body in dead_answers[1:]] == ["circuit_open"] * 2
