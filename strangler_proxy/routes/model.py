"""The route table as typed data: upstreams, routes and their policies (built by `routes.load`)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

MONOLITH = "monolith"


class RouteTableError(ValueError):
    """The routes file is refused; `str()` names the file, line and field."""


@dataclass(frozen=True)
class Timeout:
    connect: float = 2.0
    read: float = 30.0


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 1
    backoff: float = 0.05
    max_backoff: float = 1.0
    on_status: frozenset[int] = frozenset({502, 503, 504})


@dataclass(frozen=True)
class Upstream:
    name: str
    discovery: str = "static"
    instances: tuple[str, ...] = ()
    dns: dict[str, Any] | None = None
    service: str | None = None
    balancer: str = "round_robin"
    timeout: Timeout = Timeout()
    retry: RetryPolicy = RetryPolicy()
    fail_max: int = 5
    reset_timeout: float = 30.0
    max_concurrent: int = 100
    # the client's Host goes upstream (a Django app checks CSRF origins and builds URLs with
    # it); false only for a virtual-hosted upstream that routes by its own name
    preserve_host: bool = True
    eject_after: int = 3
    eject_for: float = 10.0
    health_path: str | None = None
    health_interval: float = 5.0
    health_timeout: float = 1.0


@dataclass(frozen=True)
class RateLimit:
    requests: int
    per: int
    key: str = "client"


@dataclass(frozen=True)
class Route:
    name: str
    prefix: str | None = None
    pattern: str | None = None
    methods: frozenset[str] | None = None
    mode: str = MONOLITH
    upstream: str | None = None
    percent: float = 0.0
    fallback: str | None = None
    timeout: Timeout | None = None
    retry: RetryPolicy | None = None
    auth: str = "none"
    rate_limit: RateLimit | None = None
    shadow_ignore_fields: tuple[str, ...] = ()
    shadow_ignore_headers: tuple[str, ...] = ()
    # regexes over bodies and Location (a group: only its text) masked before comparing: the
    # noise outside JSON, e.g. a page's csrfmiddlewaretoken
    shadow_ignore_patterns: tuple[str, ...] = ()
    canary_header: bool = True
    sensitive: bool = False  # carries credentials: never shadowed nor captured
    max_body: int | None = None  # bytes; None: the proxy's STRANGLER_MAX_BODY
    # the route's `lifecycle:` block as written (read by strangler_proxy.lifecycle)
    lifecycle: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def matches(self, method: str, path: str) -> bool:
        # HEAD is GET without the body (RFC 9110 9.3.2): it takes the GET route and its auth,
        # never the catch-all behind it
        if (
            self.methods is not None
            and method not in self.methods
            and not (method == "HEAD" and "GET" in self.methods)
        ):
            return False
        if self.regex is not None:
            return self.regex.fullmatch(path) is not None
        return path.startswith(self.prefix or "/")


@dataclass(frozen=True)
class RouteTable:
    upstreams: dict[str, Upstream]
    routes: tuple[Route, ...]
    default_upstream: str = MONOLITH
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @functools.cached_property
    def has_canary(self) -> bool:
        """Only then does a request need its sticky key (a JWT decode) worked out."""
        return any(route.mode == "canary" for route in self.routes)

    def route(self, name: str) -> Route:
        for route in self.routes:
            if route.name == name:
                return route
        raise KeyError(name)
