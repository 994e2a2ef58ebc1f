"""State all workers share through Redis: breaker state and rate-limit counters (integration)."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import RequestFactory

from strangler_proxy.runtime import build_proxy
from tests.proxy.conftest import routes_yaml, upstream_spec

pytestmark = pytest.mark.integration


def _workers(proxy_config, redis_url, routes_text, n=2):
    """Two `Proxy` objects built from the same config stand for two gunicorn workers."""
    config = proxy_config(routes_text, REDIS_URL=redis_url)
    return [build_proxy(config) for _ in range(n)]


def _get(proxy, path, **meta):
    return proxy.handle(RequestFactory().get(path, **meta).META)


def test_breaker_state_is_shared_by_every_worker(proxy_config, redis_url, start_upstream):
    name = f"svc{uuid.uuid4().hex[:8]}"
    dead = upstream_spec("http://127.0.0.1:9", breaker={"fail_max": 2, "reset_timeout": 60})
    routes = routes_yaml(
        {"monolith": upstream_spec(start_upstream("monolith").url), name: dead},
        [{"name": "r", "prefix": "/", "mode": "extracted", "upstream": name}],
    )
    first, second = _workers(proxy_config, redis_url, routes)
    assert [_get(first, "/x").status for _ in range(2)] == [502, 503]  # the 2nd failure trips it
    answer = _get(second, "/x")  # the other worker never failed itself, yet sees it open
    assert answer.status == 503
    assert json.loads(answer.body)["code"] == "circuit_open"
    assert dict(answer.headers)["Retry-After"]
    assert second.upstreams.get(name).breaker.current_state == "open"


def test_rate_limit_counters_are_shared_by_every_worker(proxy_config, redis_url, start_upstream):
    route = f"rl{uuid.uuid4().hex[:8]}"
    routes = routes_yaml(
        {"monolith": upstream_spec(start_upstream("monolith").url)},
        [{"name": route, "prefix": "/", "rate_limit": {"requests": 3, "per": 60}}],
    )
    first, second = _workers(proxy_config, redis_url, routes)
    statuses = [
        _get(worker, "/x", REMOTE_ADDR="10.9.9.9").status
        for worker in (first, second, first, second)
    ]
    assert statuses == [200, 200, 200, 429]


def test_shadow_differences_are_shared_through_redis(proxy_config, redis_url, start_upstream):
    routes = routes_yaml(
        {
            "monolith": upstream_spec(start_upstream("monolith").url),
            "svc": upstream_spec(start_upstream("svc").url),
        },
        [{"name": "s", "prefix": "/", "mode": "shadow", "upstream": "svc"}],
    )
    first, second = _workers(proxy_config, redis_url, routes)
    marker = uuid.uuid4().hex
    _get(first, "/echo", HTTP_X_REQUEST_ID=marker)
    first.shadow.executor.shutdown(wait=True)
    assert any(d["request_id"] == marker for d in second.shadow.store.recent(200))


def test_two_fleets_sharing_a_redis_keep_their_keys_apart(proxy_config, redis_url, start_upstream):
    import redis

    route = f"rl{uuid.uuid4().hex[:8]}"
    routes = routes_yaml(
        {"monolith": upstream_spec(start_upstream("monolith").url)},
        [{"name": route, "prefix": "/", "rate_limit": {"requests": 1, "per": 60}}],
    )
    fleets = [f"fleet-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    first, second = (
        build_proxy(proxy_config(routes, REDIS_URL=redis_url, REDIS_PREFIX=prefix))
        for prefix in fleets
    )

    # each fleet has its own allowance: the first one's use does not count against the second
    assert [_get(first, "/x", REMOTE_ADDR="10.9.9.8").status for _ in range(2)] == [200, 429]
    assert _get(second, "/x", REMOTE_ADDR="10.9.9.8").status == 200
    client = redis.Redis.from_url(redis_url)
    for prefix in fleets:
        assert list(client.scan_iter(match=f"{prefix}:rl:*")), f"no rate-limit key under {prefix}"
