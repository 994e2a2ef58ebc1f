"""Builds the per-process `Proxy` from settings, once, after the worker has forked."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import urllib3
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from strangler_proxy.auth import EdgeAuth
from strangler_proxy.capture import capture_store
from strangler_proxy.proxy import Proxy, ProxyOptions
from strangler_proxy.ratelimit import MemoryLimiter, RedisLimiter
from strangler_proxy.shadow import DiffStore, ShadowRunner
from strangler_proxy.table_source import TableSource
from strangler_proxy.upstreams import Upstreams

_proxy: Proxy | None = None
_lock = threading.Lock()


def redis_client(url: str) -> Any | None:
    if not url:
        return None
    import redis

    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def build_proxy(config: dict[str, Any]) -> Proxy:
    redis = redis_client(config.get("REDIS_URL", ""))
    http = urllib3.PoolManager(num_pools=64, maxsize=config.get("POOL_SIZE", 32), block=False)
    return Proxy(
        source=TableSource(config["ROUTES_FILE"], check_interval=config.get("CHECK_INTERVAL", 1.0)),
        upstreams=Upstreams(
            http=http,
            redis_client=redis,
            zookeeper_hosts=config.get("ZOOKEEPER_HOSTS", ""),
            health_checks=config.get("HEALTH_CHECKS", True),
        ),
        limiter=RedisLimiter(redis) if redis is not None else MemoryLimiter(),
        auth=EdgeAuth(
            jwks_url=config["JWKS_URL"],
            issuer=config.get("JWT_ISSUER", "strangler-users"),
            audience=config.get("JWT_AUDIENCE", "strangler"),
            admin_token=config.get("ADMIN_TOKEN", ""),
        ),
        shadow=ShadowRunner(
            store=DiffStore(path=Path(config["SHADOW_DIFFS_FILE"]), redis_client=redis),
            workers=config.get("SHADOW_WORKERS", 4),
            capture=capture_store(path=capture_file(config), redis_client=redis)
            if config.get("CAPTURE", True)
            else None,
        ),
        options=ProxyOptions(
            max_body=config.get("MAX_BODY", 10 * 1024 * 1024),
            buffer_limit=config.get("BUFFER_LIMIT", 256 * 1024),
            tracing=config.get("TRACING", False),
            trust_canary_header=config.get("TRUST_CANARY_HEADER", True),
        ),
    )


def capture_file(config: dict[str, Any]) -> Path:
    return Path(
        config.get("CAPTURE_FILE")
        or Path(config["SHADOW_DIFFS_FILE"]).with_name("shadow-capture.jsonl")
    )


def lifecycle_folder(config: dict[str, Any]) -> Path:
    return Path(config.get("LIFECYCLE_DIR") or Path(config["SHADOW_DIFFS_FILE"]).parent)


def get_proxy() -> Proxy:
    global _proxy
    proxy = _proxy
    if proxy is None:
        with _lock:
            if _proxy is None:
                _proxy = build_proxy(settings.STRANGLER_PROXY)
                _start_evaluator(settings.STRANGLER_PROXY)
            proxy = _proxy
    return proxy


_evaluator_started = False


def _start_evaluator(config: dict[str, Any]) -> None:
    """With LIFECYCLE_EVALUATOR on, every worker competes for one lock; its holder evaluates."""
    global _evaluator_started
    if _evaluator_started or not config.get("LIFECYCLE_EVALUATOR", False):
        return
    from strangler_proxy import lifecycle

    folder = lifecycle_folder(config)
    controller = lifecycle.Controller(
        routes_file=config["ROUTES_FILE"],
        store=lifecycle.LifecycleStore(folder),
        read_snapshot=lifecycle.local_snapshot,
    )
    lifecycle.Evaluator(
        controller,
        lock_path=folder / "lifecycle.lock",
        interval=float(config.get("LIFECYCLE_INTERVAL", 5.0)),
    ).start_thread()
    _evaluator_started = True


@receiver(setting_changed)
def _reset(*, setting: str, **_kwargs: Any) -> None:
    global _proxy
    if setting == "STRANGLER_PROXY":
        _proxy = None
