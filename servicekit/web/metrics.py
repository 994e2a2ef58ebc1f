"""Prometheus metrics: the `/metrics` view, request metrics middleware and the shared instruments.

Gunicorn runs several worker processes; when `PROMETHEUS_MULTIPROC_DIR` is set (before the
process starts, to an empty folder shared by the workers) every scrape sums all of them.

Instruments other plumbing records into (names the dashboards and alert rules in deploy/ use):
- `http_requests_total`, `http_request_duration_seconds`: `RequestMetricsMiddleware`.
- `proxy_upstream_requests_total`, `proxy_upstream_duration_seconds`: the proxy, per route
  and upstream (`monolith` or an extracted service): the traffic split of the strangler.
- `circuit_breaker_state`: `BreakerMetricsListener` on every pybreaker breaker.
- `outbox_pending_messages`, `outbox_oldest_pending_age_seconds`: yielded at scrape time by
  the callables listed in the `SERVICEKIT_METRICS_COLLECTORS` setting.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

import pybreaker
import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by service, method, URL pattern and status code.",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request, by service, method and URL pattern.",
    ["service", "method", "route"],
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_REQUESTS = Counter(
    "proxy_upstream_requests_total",
    "Requests the proxy forwarded, by route, upstream and status code (0: no answer).",
    ["route", "upstream", "status"],
)
UPSTREAM_LATENCY = Histogram(
    "proxy_upstream_duration_seconds",
    "Time an upstream took to answer the proxy, by route and upstream.",
    ["route", "upstream"],
    buckets=LATENCY_BUCKETS,
)
BREAKER_STATE = Gauge(
    "circuit_breaker_state",
    "Circuit breaker state by breaker name: 0 closed, 1 half-open, 2 open.",
    ["name"],
    multiprocess_mode="max",
)
BREAKER_STATES = {
    pybreaker.STATE_CLOSED: 0,
    pybreaker.STATE_HALF_OPEN: 1,
    pybreaker.STATE_OPEN: 2,
}

UNMATCHED_ROUTE = "<unmatched>"


def route_of(request: HttpRequest) -> str:
    """The URL pattern that answered (`api/v1/orders/<int:pk>/`), never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return UNMATCHED_ROUTE
    return "/" + str(match.route)


class RequestMetricsMiddleware:
    """Counts and times every request; put it first so the time covers the whole stack."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        service = getattr(settings, "SERVICE_NAME", "unknown")
        route = route_of(request)
        HTTP_REQUESTS.labels(service, request.method, route, str(response.status_code)).inc()
        HTTP_LATENCY.labels(service, request.method, route).observe(elapsed)
        return response


class BreakerMetricsListener(pybreaker.CircuitBreakerListener):
    """Publishes a breaker's state: `CircuitBreaker(..., listeners=[BreakerMetricsListener()])`,
    and logs each change (inside the call that caused it: with that request's id)."""

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state, new_state) -> None:
        name = cb.name or "unnamed"
        BREAKER_STATE.labels(name).set(BREAKER_STATES.get(new_state.name, 2))
        structlog.get_logger("servicekit.breaker").warning(
            "breaker.state_changed",
            breaker=name,
            old=getattr(old_state, "name", str(old_state)),
            new=new_state.name,
        )


class _SettingsCollector:
    """Runs the `SERVICEKIT_METRICS_COLLECTORS` callables at scrape time (e.g. outbox lag)."""

    def __init__(self, paths: Iterable[str]):
        self.paths = list(paths)

    def collect(self) -> Iterable[Metric]:
        for path in self.paths:
            yield from import_string(path)()


def registry_for_scrape() -> CollectorRegistry:
    """Every worker's samples when multiprocess, else this process's default registry."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def metrics(request: HttpRequest) -> HttpResponse:
    """`GET /metrics` in the Prometheus text format."""
    body = generate_latest(registry_for_scrape())
    paths = getattr(settings, "SERVICEKIT_METRICS_COLLECTORS", [])
    if paths:
        extra = CollectorRegistry(auto_describe=False)
        extra.register(_SettingsCollector(paths))
        body += generate_latest(extra)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
