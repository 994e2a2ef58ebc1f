"""Service discovery (static, DNS, ZooKeeper), load balancing, health, and the resilient client."""

from __future__ import annotations

import collections
import time

import pybreaker
import pytest
from kazoo.client import KazooClient

from servicekit.web.backoff import backoff_delay
from servicekit.web.discovery.balancers import InstancePool
from servicekit.web.discovery.registry import DnsRegistry, StaticRegistry
from servicekit.web.discovery.zookeeper import ZooKeeperRegistry
from servicekit.web.http_client import ServiceClient, UpstreamError, make_breaker
from tests.proxy.conftest import ADMIN, routes_yaml, upstream_spec
from tests.proxy.zookeeper import zookeeper_server
from tests.support.wait import wait_for

URLS = ["http://a:1", "http://b:1", "http://c:1"]


def test_round_robin_spreads_evenly():
    pool = InstancePool(URLS)
    picks = collections.Counter()
    for _ in range(30):
        state = pool.pick()
        picks[state.url] += 1
        pool.release(state, ok=True)
    assert set(picks.values()) == {10}


@pytest.mark.parametrize("balancer", ["round_robin", "least_outstanding", "p2c", "consistent_hash"])
def test_a_lone_instance_is_picked_and_counted_even_when_ejected(balancer):
    pool = InstancePool(URLS[:1], balancer=balancer)
    first = pool.pick(key="user-1")
    pool.release(first, ok=False)
    pool.states[0].ejected_until = time.monotonic() + 60  # panic mode: all there is
    held = [pool.pick(key="user-1"), pool.pick(exclude=[first])]
    assert [s.url for s in held] == [URLS[0]] * 2
    assert pool.states[0].outstanding == 2
    for state in held:
        pool.release(state, ok=True)
    assert pool.states[0].outstanding == 0


def test_least_outstanding_avoids_the_busy_instance():
    pool = InstancePool(URLS, balancer="least_outstanding")
    busy = [pool.pick(), pool.pick()]  # a and b each hold one call
    assert pool.pick().url not in {s.url for s in busy}


def test_power_of_two_choices_never_picks_the_busiest_of_the_two():
    pool = InstancePool(URLS[:2], balancer="p2c")
    held = pool.pick()
    for _ in range(20):
        state = pool.pick()
        assert state.url != held.url
        pool.release(state, ok=True)


def test_consistent_hash_is_sticky_and_moves_few_keys_when_an_instance_goes():
    pool = InstancePool(URLS, balancer="consistent_hash")
    before = {}
    for key in map(str, range(300)):
        state = pool.pick(key)
        before[key] = state.url
        pool.release(state, ok=True)
        assert pool.pick(key).url == state.url
    pool.update(URLS[:2])
    moved = sum(
        1 for key, url in before.items() if url != "http://c:1" and pool.pick(key).url != url
    )
    assert moved == 0  # only the keys of the removed instance move


def test_passive_ejection_after_consecutive_failures_then_return():
    pool = InstancePool(URLS[:2], eject_after=2, eject_for=0.3)
    bad = next(s for s in pool.states if s.url == "http://a:1")
    for _ in range(2):
        bad.outstanding += 1
        pool.release(bad, ok=False)
    assert {pool.pick().url for _ in range(6)} == {"http://b:1"}
    wait_for(
        lambda: bad.available(time.monotonic()),
        timeout=20,
        interval=0.05,
        what="the instance back in the pool",
    )
    assert "http://a:1" in {pool.pick().url for _ in range(6)}


def test_all_ejected_still_tries_rather_than_fails():
    pool = InstancePool(URLS[:1], eject_after=1)
    state = pool.pick()
    pool.release(state, ok=False)
    assert pool.pick().url == "http://a:1"


def test_static_and_dns_registries():
    assert StaticRegistry({"svc": ["http://x:1/"]}).instances("svc") == ["http://x:1"]
    answers = [["10.0.0.1", "10.0.0.2"], OSError("dns down")]

    def resolver(host, port):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    registry = DnsRegistry({"svc": ("svc.internal", 8000)}, ttl=0.0, resolver=resolver)
    assert registry.instances("svc") == ["http://10.0.0.1:8000", "http://10.0.0.2:8000"]
    assert registry.instances("svc") == ["http://10.0.0.1:8000", "http://10.0.0.2:8000"]  # kept
    assert DnsRegistry({"local": ("localhost", 80)}).instances("local")  # the real resolver


def test_backoff_has_full_jitter_under_the_cap():
    delays = [backoff_delay(attempt, base=0.1, cap=0.5) for attempt in range(6) for _ in range(50)]
    assert all(0 <= d <= 0.5 for d in delays)
    assert len(set(delays)) > 100


def test_service_client_balances_retries_and_breaks(start_upstream):
    one, two = start_upstream("one"), start_upstream("two")
    registry = StaticRegistry({"svc": [one.url, two.url, "http://127.0.0.1:9"]})
    client = ServiceClient(
        "svc",
        registry=registry,
        attempts=3,
        backoff=0.0,
        breaker=make_breaker("svc-test", fail_max=50, reset_timeout=30),
    )
    servers = collections.Counter(client.get("/x").json()["server"] for _ in range(12))
    assert set(servers) == {"one", "two"}  # the dead instance is retried away from
    with pytest.raises(UpstreamError):
        client.post("/status/503", json={"a": 1})  # a POST without Idempotency-Key: once only
    assert client.post("/x", json={}, headers={"Idempotency-Key": "k"}).status == 200

    dead = ServiceClient(
        "dead",
        registry=StaticRegistry({"dead": ["http://127.0.0.1:9"]}),
        attempts=1,
        breaker=make_breaker("dead-test", fail_max=2, reset_timeout=30),
    )
    for _ in range(2):
        with pytest.raises((UpstreamError, pybreaker.CircuitBreakerError)):
            dead.get("/x")
    with pytest.raises(pybreaker.CircuitBreakerError):
        dead.get("/x")


def test_proxy_active_health_checks_take_unready_instances_out(make_proxy, start_upstream):
    ready, unready = start_upstream("ready"), start_upstream("unready")
    unready.ready = False
    spec = upstream_spec(
        [ready.url, unready.url], health_check={"path": "/readyz", "interval": 0.1}
    )
    client = make_proxy(routes_yaml({"monolith": spec}, []), HEALTH_CHECKS=True)
    client.get("/warm")
    wait_for(
        lambda: any(r["target"] == "/readyz" for r in unready.received),
        timeout=20,
        interval=0.05,
        what="a readiness probe",
    )
    wait_for(
        lambda: {client.get("/x")["X-Upstream"] for _ in range(4)} == {"ready"},
        timeout=20,
        interval=0.05,
        what="traffic only to the ready instance",
    )
    unready.ready = True
    wait_for(
        lambda: {client.get("/x")["X-Upstream"] for _ in range(6)} == {"ready", "unready"},
        timeout=20,
        interval=0.05,
        what="traffic to both instances",
    )


def test_a_passing_health_check_half_opens_an_open_breaker(make_proxy, start_upstream):
    """A service back from an outage is asked again at the next active check that it passes,
    not one `reset_timeout` (here 60 s) after its breaker opened: the breaker half-opens, the
    next request is its trial, and its success closes the breaker."""
    down = {"now": True}

    def outage(handler, record):
        if down["now"] and record["target"] != "/readyz":
            return 502, b'{"down": true}'
        return None

    service = start_upstream("service", behaviour=outage)
    service.ready = False
    spec = upstream_spec(
        service.url,
        breaker={"fail_max": 2, "reset_timeout": 60},
        health_check={"path": "/readyz", "interval": 0.1},
    )
    routes = [{"name": "svc", "prefix": "/svc/", "mode": "extracted", "upstream": "service"}]
    client = make_proxy(
        routes_yaml({"monolith": upstream_spec(service.url), "service": spec}, routes),
        HEALTH_CHECKS=True,
    )
    wait_for(
        lambda: (
            client.get("/svc/x")["Content-Type"] == "application/problem+json"
            and client.get("/_strangler/breakers", **ADMIN).json()["service"]["state"] == "open"
        ),
        timeout=20,
        interval=0.05,
        what="the service's breaker open",
    )
    asked = lambda: sum(r["target"] != "/readyz" for r in service.received)  # noqa: E731
    before = asked()
    assert client.get("/svc/x").status_code == 503 and asked() == before  # the breaker answered
    down["now"], service.ready = False, True
    wait_for(
        lambda: client.get("/svc/x").status_code == 200,
        timeout=20,
        interval=0.05,
        what="a request served by the service again, long before its reset_timeout",
    )
    assert client.get("/_strangler/breakers", **ADMIN).json()["service"]["state"] == "closed"


@pytest.fixture(scope="module")
def zookeeper():
    with zookeeper_server() as hosts:
        try:
            yield hosts
        finally:
            ZooKeeperRegistry.close_shared()  # the proxy's connection, before the server goes


def test_zookeeper_instances_register_ephemerally_and_vanish_when_they_die(zookeeper):
    registry = ZooKeeperRegistry(zookeeper, root="/strangler-test")
    instance = KazooClient(hosts=zookeeper)  # the service instance's own session
    instance.start(timeout=10)
    try:
        assert registry.instances("catalog") == []
        own = ZooKeeperRegistry.__new__(ZooKeeperRegistry)
        own.root, own.client = "/strangler-test", instance
        own.register("catalog", "http://127.0.0.1:9101/")
        own.register("catalog", "http://127.0.0.1:9102")
        wait_for(
            lambda: len(registry.instances("catalog")) == 2,
            timeout=20,
            interval=0.05,
            what="two registered instances",
        )
        assert sorted(registry.instances("catalog")) == [
            "http://127.0.0.1:9101",
            "http://127.0.0.1:9102",
        ]
    finally:
        instance.stop()  # the session ends: its ephemeral nodes go
        instance.close()
    wait_for(
        lambda: registry.instances("catalog") == [],
        timeout=20,
        interval=0.05,
        what="the instances gone",
    )
    registry.close()


def test_proxy_routes_to_instances_found_in_zookeeper(zookeeper, make_proxy, start_upstream):
    service = start_upstream("zk-service")
    registrar = ZooKeeperRegistry(zookeeper, root="/strangler")
    node = registrar.register("catalog", service.url)
    try:
        client = make_proxy(
            routes_yaml(
                {
                    "monolith": upstream_spec(start_upstream("monolith").url),
                    "catalog": {"discovery": "zookeeper", "service": "catalog"},
                },
                [
                    {
                        "name": "c",
                        "prefix": "/api/v1/products/",
                        "mode": "extracted",
                        "upstream": "catalog",
                    }
                ],
            ),
            ZOOKEEPER_HOSTS=zookeeper,
        )
        assert client.get("/api/v1/products/")["X-Upstream"] == "zk-service"
    finally:
        registrar.deregister(node)
        registrar.close()
