"""Per-upstream pools: discovered instances, balancer, breaker, bulkhead and health checks."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pybreaker
import urllib3

from servicekit.web import cooperative
from servicekit.web.discovery.balancers import InstancePool
from servicekit.web.discovery.registry import DnsRegistry, Registry, StaticRegistry
from servicekit.web.http_client import make_breaker
from servicekit.web.metrics import BreakerMetricsListener
from strangler_proxy.routes.model import RouteTable, Upstream

logger = logging.getLogger("strangler_proxy.upstreams")


class Bulkhead:
    """At most `limit` requests at once to one upstream: `enter()` is False when that many are
    in flight; each True is followed by one `leave()`. A count under a lock: threading's
    BoundedSemaphore, Python over a Condition, cost twice as much per request."""

    __slots__ = ("_count", "_lock", "limit")

    def __init__(self, limit: int):
        self.limit = limit
        self._count = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self._count >= self.limit:
                return False
            self._count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            if self._count <= 0:
                raise ValueError("Bulkhead.leave() without an enter()")
            self._count -= 1


class UpstreamRuntime:
    def __init__(
        self,
        config: Upstream,
        *,
        registry: Registry,
        breaker: pybreaker.CircuitBreaker,
        pool: InstancePool | None = None,
    ):
        self.config = config
        self.name = config.name
        self.registry = registry
        self.breaker = breaker
        instances = registry.instances(config.service or config.name)
        if pool is None:
            pool = InstancePool(
                instances,
                balancer=config.balancer,
                eject_after=config.eject_after,
                eject_for=config.eject_for,
            )
        else:  # same balancer: keep what we learnt about the instances that stay
            pool.update(instances)
        self.pool = pool
        self.bulkhead = Bulkhead(config.max_concurrent)
        self._refreshed = time.monotonic()
        self._dynamic = config.discovery != "static"

    def refresh(self) -> None:
        """Re-read a dynamic registry at most once a second (DNS answers are cached by TTL)."""
        if self._dynamic and time.monotonic() - self._refreshed >= 1.0:
            self._refreshed = time.monotonic()
            try:
                service = self.config.service or self.name
                self.pool.update(cooperative.blocking(self.registry.instances, service))
            except Exception:
                logger.exception("discovery failed for %s", self.name)

    def origins(self) -> list[str]:
        return [s.url for s in self.pool.states]


class Upstreams:
    """All upstreams of the current table; rebuilt on a table change, breakers kept by name.

    `http` (built once by the runtime) serves only the active health checks."""

    def __init__(
        self,
        *,
        http: urllib3.PoolManager,
        redis_client: Any | None = None,
        zookeeper_hosts: str = "",
        health_checks: bool = True,
        redis_prefix: str = "strangler",
    ):
        self.http = http
        self.redis = redis_client
        self.redis_prefix = redis_prefix
        self.zookeeper_hosts = zookeeper_hosts
        self.health_checks = health_checks
        self._table: RouteTable | None = None
        self._runtimes: dict[str, UpstreamRuntime] = {}
        self._breakers: dict[str, pybreaker.CircuitBreaker] = {}
        self._origins: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._checker: threading.Thread | None = None

    def sync(self, table: RouteTable) -> None:
        if table is not self._table:
            # Building upstreams may wait (Redis breaker storage, a registry): under
            # servicekit.web.cooperative that happens in the pool, lock and all, so a request on
            # the loop's thread never waits for a lock held by another that is waiting itself.
            cooperative.blocking(self._rebuild, table)

    def _rebuild(self, table: RouteTable) -> None:
        with self._lock:
            if table is self._table:
                return
            runtimes = {}
            for name, config in table.upstreams.items():
                old = self._runtimes.get(name)
                if old is not None and old.config == config:
                    runtimes[name] = old
                    continue
                same_pool = old is not None and (
                    old.config.balancer,
                    old.config.eject_after,
                    old.config.eject_for,
                ) == (config.balancer, config.eject_after, config.eject_for)
                runtimes[name] = UpstreamRuntime(
                    config,
                    registry=self._registry(config),
                    breaker=self._breaker(config),
                    pool=old.pool if same_pool and old is not None else None,
                )
            self._runtimes = runtimes
            self._origins = frozenset(o for r in runtimes.values() for o in r.origins())
            self._table = table
        if (
            self.health_checks
            and self._checker is None
            and any(c.health_path for c in table.upstreams.values())
        ):
            self._checker = threading.Thread(target=self._health_loop, daemon=True, name="health")
            self._checker.start()

    def get(self, name: str) -> UpstreamRuntime:
        return self._runtimes[name]

    def all(self) -> dict[str, UpstreamRuntime]:
        return dict(self._runtimes)

    @property
    def origins(self) -> frozenset[str]:
        return self._origins

    def _registry(self, config: Upstream) -> Registry:
        service = config.service or config.name
        if config.discovery == "dns":
            dns = config.dns or {}
            return DnsRegistry(
                {service: (dns["name"], int(dns["port"]))},
                scheme=dns.get("scheme", "http"),
                ttl=float(dns.get("ttl", 5.0)),
            )
        if config.discovery == "zookeeper":
            from servicekit.web.discovery.zookeeper import ZooKeeperRegistry

            if not self.zookeeper_hosts:
                raise RuntimeError("discovery: zookeeper needs STRANGLER_ZOOKEEPER_HOSTS")
            return ZooKeeperRegistry.shared(self.zookeeper_hosts)
        return StaticRegistry({service: list(config.instances)})

    def _breaker(self, config: Upstream) -> pybreaker.CircuitBreaker:
        breaker = self._breakers.get(config.name)
        if breaker is None:
            breaker = make_breaker(
                config.name,
                fail_max=config.fail_max,
                reset_timeout=config.reset_timeout,
                redis_client=self.redis,
                redis_prefix=self.redis_prefix,
            )
            breaker.add_listener(BreakerMetricsListener())
            self._breakers[config.name] = breaker
        else:
            breaker.fail_max = config.fail_max
            breaker.reset_timeout = config.reset_timeout
        return breaker

    def _health_loop(self) -> None:
        """Active checks: GET each instance's health path; a failure takes it out of rotation."""
        next_due: dict[str, float] = {}
        while True:
            now = time.monotonic()
            for name, runtime in list(self._runtimes.items()):
                config = runtime.config
                if not config.health_path or next_due.get(name, 0) > now:
                    continue
                next_due[name] = now + config.health_interval
                try:
                    self._check(runtime)
                except Exception:  # the loop outlives any one upstream's trouble
                    logger.exception("health check of %s failed", name)
            time.sleep(0.2)

    def _check(self, runtime: UpstreamRuntime) -> None:
        """Probe every instance; a pass half-opens an open breaker at once, so the next request
        is its trial rather than one `reset_timeout` later (Envoy's
        `successful_active_health_check_uneject_host`); a failed trial opens it again."""
        runtime.refresh()
        passed = False
        for state in runtime.pool.states:
            healthy = self._probe(state.url, runtime.config)
            runtime.pool.mark_health(state.url, healthy)
            passed = passed or healthy
        if passed and runtime.breaker.current_state == pybreaker.STATE_OPEN:
            runtime.breaker.half_open()

    def _probe(self, url: str, config: Upstream) -> bool:
        try:
            response = self.http.request(
                "GET",
                url + (config.health_path or "/readyz"),
                timeout=urllib3.Timeout(connect=config.health_timeout, read=config.health_timeout),
                retries=False,
                redirect=False,
            )
        except urllib3.exceptions.HTTPError:
            return False
        return 200 <= response.status < 300
