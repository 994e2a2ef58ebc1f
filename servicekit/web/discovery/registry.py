"""Service discovery: resolve a service name to base URLs from a static list, DNS or ZooKeeper.

The backend is chosen by `SERVICEKIT_DISCOVERY` (`static`, `dns`, `zookeeper`), read lazily by
`registry_from_settings()`; each registry has `instances(service) -> list[str]` of base URLs.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol


class Registry(Protocol):
    def instances(self, service: str) -> list[str]: ...


class StaticRegistry:
    """A fixed mapping from service name to base URLs (the default, and for tests)."""

    def __init__(self, services: Mapping[str, list[str]]):
        self.services = {name: [u.rstrip("/") for u in urls] for name, urls in services.items()}

    def instances(self, service: str) -> list[str]:
        return list(self.services.get(service, ()))


Resolver = Callable[[str, int], list[str]]


def resolve_addresses(host: str, port: int) -> list[str]:
    """Every address a name resolves to (docker-compose and Kubernetes headless services)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for family, _type, _proto, _name, sockaddr in infos:
        address = f"[{sockaddr[0]}]" if family == socket.AF_INET6 else sockaddr[0]
        if address not in seen:
            seen.append(address)
    return seen


class DnsRegistry:
    """`service -> (name, port)`; each answer is cached for `ttl` seconds, the last one kept on error."""

    def __init__(
        self,
        names: Mapping[str, tuple[str, int]],
        *,
        scheme: str = "http",
        ttl: float = 5.0,
        resolver: Resolver = resolve_addresses,
    ):
        self.names = dict(names)
        self.scheme = scheme
        self.ttl = ttl
        self.resolver = resolver
        self._cache: dict[str, tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def instances(self, service: str) -> list[str]:
        if service not in self.names:
            return []
        cached = self._cache.get(service)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        host, port = self.names[service]
        with self._lock:
            try:
                urls = [f"{self.scheme}://{a}:{port}" for a in self.resolver(host, port)]
            except OSError:
                return cached[1] if cached else []
            self._cache[service] = (time.monotonic(), urls)
            return urls


def registry_from_settings() -> Registry:
    """The registry named by `SERVICEKIT_DISCOVERY` (a dict: BACKEND plus backend options)."""
    from django.conf import settings

    config: dict[str, Any] = dict(getattr(settings, "SERVICEKIT_DISCOVERY", {}) or {})
    backend = config.pop("BACKEND", "static")
    if backend == "static":
        return StaticRegistry(config.get("SERVICES", {}))
    if backend == "dns":
        names = {k: (v[0], int(v[1])) for k, v in config.get("NAMES", {}).items()}
        return DnsRegistry(names, scheme=config.get("SCHEME", "http"), ttl=config.get("TTL", 5.0))
    if backend == "zookeeper":
        from servicekit.web.discovery.zookeeper import ZooKeeperRegistry

        return ZooKeeperRegistry.shared(config["HOSTS"], root=config.get("ROOT", "/strangler"))
    raise ValueError(f"unknown SERVICEKIT_DISCOVERY backend {backend!r}")
