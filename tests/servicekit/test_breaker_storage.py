"""The breaker's shared state in Redis: one round trip per successful call, shared semantics kept
(integration: the real Redis)."""

from __future__ import annotations

import uuid

import pybreaker
import pytest

from servicekit.web.http_client import make_breaker
from tests.support.backends import reachable_redis_url

pytestmark = pytest.mark.integration


class _Counting:
    """A redis client that counts the commands (round trips) sent through it."""

    def __init__(self, url: str):
        import redis

        self.commands: list[str] = []
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        execute = client.execute_command

        def counted(*args, **options):
            self.commands.append(str(args[0]))
            return execute(*args, **options)

        client.execute_command = counted
        self.client = client


@pytest.fixture
def redis_url() -> str:
    return reachable_redis_url()


def _breakers(url: str, n: int = 2, fail_max: int = 3):
    """Breakers of one name in separate clients: as in separate processes."""
    name, prefix = f"b{uuid.uuid4().hex[:8]}", f"test{uuid.uuid4().hex[:6]}"
    clients = [_Counting(url) for _ in range(n)]
    breakers = [
        make_breaker(
            name, fail_max=fail_max, reset_timeout=60, redis_client=c.client, redis_prefix=prefix
        )
        for c in clients
    ]
    return breakers, clients


def _ok(breaker) -> None:
    with breaker.calling():
        pass


def _fail(breaker) -> None:
    with pytest.raises((ValueError, pybreaker.CircuitBreakerError)), breaker.calling():
        raise ValueError("upstream down")


def test_a_successful_call_costs_one_round_trip(redis_url):
    (breaker,), (client,) = _breakers(redis_url, n=1)
    client.commands.clear()
    for _ in range(10):
        _ok(breaker)
    assert client.commands == ["MGET"] * 10  # pybreaker's own storage: GET and SET, 20
    _fail(breaker)
    _ok(breaker)  # after a failure the success resets the shared counter
    assert "SET" in client.commands[-2:]
    assert breaker.fail_counter == 0


def test_a_success_anywhere_resets_the_failures_counted_everywhere(redis_url):
    (first, second), _ = _breakers(redis_url, fail_max=3)
    _fail(first)
    _fail(first)
    _ok(second)  # it never failed itself, but it read the count of 2: it resets it
    assert first.fail_counter == 0
    _fail(first)
    _fail(first)
    assert first.current_state == "closed"  # 2 consecutive, not 4
    _fail(first)
    assert first.current_state == "open"
    assert second.current_state == "open"  # shared
    with pytest.raises(pybreaker.CircuitBreakerError):
        _ok(second)


def test_a_thread_that_failed_resets_on_its_next_success(redis_url):
    (breaker,), _ = _breakers(redis_url, n=1, fail_max=3)
    for _ in range(3):
        _fail(breaker)
        _fail(breaker)
        _ok(breaker)
    assert breaker.current_state == "closed"
    assert breaker.fail_counter == 0


def test_redis_gone_mid_life_falls_back_to_closed(redis_url):
    import redis

    (breaker,), _ = _breakers(redis_url, n=1)
    breaker._state_storage._redis = redis.Redis.from_url(
        "redis://127.0.0.1:9/0", socket_timeout=0.2, socket_connect_timeout=0.2
    )
    _ok(breaker)  # calls go through (pybreaker's fallback state); the storage raises nothing
    assert breaker.current_state == "closed"
