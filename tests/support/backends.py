"""Which real backends this run must use: skip on the embedded pass, fail when one is required."""

from __future__ import annotations

import os

import pytest


def required_backends() -> set[str]:
    """The backends STRANGLER_REQUIRE_BACKENDS names (`postgres,rabbitmq,redis` in CI)."""
    raw = os.environ.get("STRANGLER_REQUIRE_BACKENDS", "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def require_or_skip(backend: str, reason: str) -> None:
    """Skip on the embedded pass; fail when this pass was started to exercise `backend`."""
    if backend in required_backends():
        pytest.fail(f"{backend} is required in this run but unusable: {reason}")
    pytest.skip(f"runs in the {backend} pass of make test: {reason}")


def reachable_redis_url() -> str:
    """The real Redis (REDIS_URL, else the local one): an integration test fails (never skips)
    when this run requires Redis and it is unreachable."""
    import redis

    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if "redis" in required_backends():
            pytest.fail(f"Redis is required (STRANGLER_REQUIRE_BACKENDS) but unreachable: {exc}")
        pytest.skip(f"Redis unreachable at {url}")
    return url
