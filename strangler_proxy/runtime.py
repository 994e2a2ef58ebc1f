"""The composition root: the one place that builds the proxy, the lifecycle controller and the
capture store, with the clients and pools they share built once and passed in.

Per process (after the worker has forked) `get_runtime()` builds everything from
`settings.STRANGLER_PROXY`; the CLI builds only what it needs with the same functions (and so
imports this module without Django settings: the request path is imported in `build_proxy`).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import urllib3
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from servicekit.web import cooperative
from servicekit.web.control_store import Document, control_document, leader_lease
from servicekit.web.env import data_dir
from servicekit.web.tls import urllib3_options
from strangler_proxy.config import ProxyConfig, current
from strangler_proxy.control.outbox_lag import outbox_lag
from strangler_proxy.control.series import Sample, Sampler, SeriesStore, sample_from_metrics
from strangler_proxy.export import publish as nginx_plane
from strangler_proxy.lifecycle.controller import Controller
from strangler_proxy.lifecycle.evaluator import Evaluator
from strangler_proxy.lifecycle.evidence import Snapshot, local_snapshot
from strangler_proxy.lifecycle.nginx_log import AccessLogCounters, combined
from strangler_proxy.lifecycle.store import LifecycleStore
from strangler_proxy.routes.file import load_live_table
from strangler_proxy.shadow.store import DiffStore, capture_store

if TYPE_CHECKING:
    from strangler_proxy.edge.proxy import Proxy


def redis_client(url: str) -> Any | None:
    if not url:
        return None
    import redis

    from servicekit.web.tls.stores import redis_options

    return redis.Redis.from_url(
        url,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        **redis_options(url, store="Redis (REDIS_URL)"),
    )


def default_folder() -> Path:
    """`<data folder>/proxy`: lifecycle state and captures when no folder is given."""
    folder = data_dir() / "proxy"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def nginx_counters(
    routes_file: str | os.PathLike[str] | Document, access_log: str
) -> AccessLogCounters | None:
    """What the nginx plane served, as the proxy's own counters (its JSON access log); None
    when no plane logs (`nginx_access_log` unset)."""
    if not access_log:
        return None
    return AccessLogCounters(access_log, lambda: load_live_table(routes_file))


def build_controller(
    *,
    routes_file: str | os.PathLike[str] | Document,
    folder: Path,
    read_snapshot: Callable[[], Snapshot],
    nginx_access_log: str | None = None,
    nginx: AccessLogCounters | None = None,
) -> Controller:
    """`nginx`: the plane's counters already read elsewhere in the process (the control
    centre's sampler), else read from `nginx_access_log` (default: the configured one)."""
    nginx_plane.install()  # the lifecycle gates' moves regenerate the nginx plane too
    if nginx is None:
        access_log = nginx_access_log if nginx_access_log is not None else _configured_access_log()
        nginx = nginx_counters(routes_file, access_log)
    if nginx is not None:  # the nginx plane serves (some of) the traffic: its log is evidence too
        read_snapshot = combined(read_snapshot, nginx)
    return Controller(
        routes_file=routes_file, store=LifecycleStore(folder), read_snapshot=read_snapshot
    )


def _configured_access_log() -> str:
    from strangler_proxy.config import current

    return current().nginx_access_log if settings.configured else ""


def build_capture(*, path: Path, redis: Any | None, redis_prefix: str) -> DiffStore:
    return capture_store(path=path, redis_client=redis, redis_prefix=redis_prefix)


def build_proxy(config: Mapping[str, Any] | ProxyConfig, *, redis: Any | None = None) -> Proxy:
    # The request path is imported here, not at the top: the CLI builds its controller and
    # capture store from this module without Django settings, and the edge needs them.
    from strangler_proxy.edge.auth import EdgeAuth
    from strangler_proxy.edge.headers import TrustedHops
    from strangler_proxy.edge.proxy import Proxy, ProxyOptions
    from strangler_proxy.edge.ratelimit import MemoryLimiter, RedisLimiter
    from strangler_proxy.routes.source import TableSource
    from strangler_proxy.shadow.runner import ShadowRunner
    from strangler_proxy.upstream.client import Client
    from strangler_proxy.upstream.forward import Forwarder
    from strangler_proxy.upstream.pool import Upstreams

    config = _typed(config)
    if redis is None:
        redis = redis_client(config.redis_url)
    upstreams = Upstreams(
        http=urllib3.PoolManager(
            num_pools=64,
            maxsize=config.pool_size,
            block=False,
            **urllib3_options(default_name="proxy"),
        ),
        redis_client=redis,
        zookeeper_hosts=config.zookeeper_hosts,
        health_checks=config.health_checks,
        redis_prefix=config.redis_prefix,
    )
    return Proxy(
        source=TableSource(
            config.routes_file,
            check_interval=config.check_interval,
            document=control_document("routes", config.routes_file, settings=config.control),
        ),
        upstreams=upstreams,
        forwarder=Forwarder(upstreams=upstreams, client=Client()),
        limiter=RedisLimiter(redis, prefix=f"{config.redis_prefix}:rl:")
        if redis is not None
        else MemoryLimiter(),
        auth=EdgeAuth(
            jwks_url=config.jwks_url,
            issuer=config.jwt_issuer,
            audience=config.jwt_audience,
            admin_token=config.admin_token,
        ),
        shadow=ShadowRunner(
            store=DiffStore(
                path=Path(config.shadow_diffs_file),
                redis_client=redis,
                key=f"{config.redis_prefix}:shadow:diffs",
            ),
            workers=config.shadow_workers,
            capture=build_capture(
                path=config.capture_path, redis=redis, redis_prefix=config.redis_prefix
            )
            if config.capture
            else None,
        ),
        options=ProxyOptions(
            max_body=config.max_body,
            buffer_limit=config.buffer_limit,
            tracing=config.tracing,
            trust_canary_header=config.trust_canary_header,
            trusted_hops=TrustedHops.parse(config.forwarded_allow_ips),
            canary_secret=config.canary_secret,
            admin_only_paths=tuple(config.admin_only_paths),
            access_log=config.access_log,
        ),
    )


class Runtime:
    """Everything one proxy process serves with; the controller is built on first use (its
    store creates the lifecycle database, which a proxy that never uses it should not)."""

    def __init__(self, config: ProxyConfig):
        self.config = config
        self.proxy = build_proxy(config)
        # reads the upstreams' /metrics for the outbox lag page
        self.outbox_http = urllib3.PoolManager(
            num_pools=8, maxsize=2, **urllib3_options(default_name="proxy")
        )

    @functools.cached_property
    def series(self) -> SeriesStore:
        return SeriesStore(self.config.lifecycle_folder)

    def metrics_targets(self) -> dict[str, str]:
        """Each upstream's first instance: where its Prometheus `/metrics` is read."""
        self.proxy.table()
        return {
            name: runtime.pool.snapshot()[0]["url"]
            for name, runtime in self.proxy.upstreams.all().items()
            if runtime.pool.snapshot()
        }

    @functools.cached_property
    def nginx(self) -> AccessLogCounters | None:
        """The nginx plane's traffic (its access log), one reader for the gates and the plots."""
        return nginx_counters(self.proxy.source.document, self.config.nginx_access_log)

    def read_sample(self) -> Sample:
        """The control centre's sample now: this host's counters and breakers, what the nginx
        plane served (when one logs), every upstream's outbox lag."""
        from servicekit.web.metrics import registry_for_scrape

        return sample_from_metrics(
            time.time(),
            (s for m in registry_for_scrape().collect() for s in m.samples),
            outbox_lag(self.metrics_targets(), http=self.outbox_http),
            served_elsewhere=self.nginx() if self.nginx is not None else None,
        )

    @functools.cached_property
    def lifecycle(self) -> Controller:
        return build_controller(
            routes_file=self.proxy.source.document,
            folder=self.config.lifecycle_folder,
            read_snapshot=local_snapshot,
            nginx_access_log=self.config.nginx_access_log,
            nginx=self.nginx,
        )


def build_runtime(config: Mapping[str, Any] | ProxyConfig) -> Runtime:
    nginx_plane.install()  # the admin API's route changes regenerate the nginx plane too
    return Runtime(_typed(config))


def _typed(config: Mapping[str, Any] | ProxyConfig) -> ProxyConfig:
    return config if isinstance(config, ProxyConfig) else ProxyConfig.from_settings(config)


_runtime: Runtime | None = None
_lock = threading.Lock()
_evaluator_started = False


def get_runtime() -> Runtime:
    runtime = _runtime
    if runtime is None:
        # Built in the pool under servicekit.web.cooperative, lock and all: the first requests
        # arrive together, and one waiting on the loop's thread for the lock held by another
        # that waits itself (its upstreams' Redis setup) would stop the worker.
        runtime = cooperative.blocking(_build_once)
    return runtime


def _build_once() -> Runtime:
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = build_runtime(settings.STRANGLER_PROXY)
            _start_evaluator(_runtime)
        return _runtime


def get_proxy() -> Proxy:
    return get_runtime().proxy


def _start_evaluator(runtime: Runtime) -> None:
    """With LIFECYCLE_EVALUATOR on, every worker competes to lead; the leader evaluates: the
    holder of the shared store's lease across replicas, else of a lock file on this host."""
    global _evaluator_started
    if _evaluator_started or not runtime.config.lifecycle_evaluator:
        return
    Evaluator(
        runtime.lifecycle,
        lock_path=runtime.config.lifecycle_folder / "lifecycle.lock",
        interval=runtime.config.lifecycle_interval,
        lease=leader_lease("lifecycle", settings=runtime.config.control),
    ).start_thread()
    _evaluator_started = True


def start_series_sampler() -> None:
    """In a served proxy's worker (strangler_proxy.wsgi): every worker competes for the host's
    sampler lock; the holder samples every `control_series_step` s (0: never), off the request
    path, building the runtime on its first sample."""
    config = current()
    if config.control_series_step <= 0:
        return
    folder = config.lifecycle_folder
    Sampler(
        SeriesStore(folder),
        read=lambda: get_runtime().read_sample(),
        lock_path=folder / "control-series.lock",
        step=config.control_series_step,
    ).start_thread()


@receiver(setting_changed)
def _reset(*, setting: str, **_kwargs: Any) -> None:
    global _runtime
    if setting == "STRANGLER_PROXY":
        _runtime = None
