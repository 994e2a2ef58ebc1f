"""The proxy's own instruments, beside servicekit.web.metrics' per-route upstream counters."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from servicekit.web.metrics import LATENCY_BUCKETS

UPSTREAM_ERRORS = Counter(
    "proxy_upstream_errors_total",
    "Upstream failures seen by the proxy, by upstream and kind "
    "(connect, timeout, protocol, status, breaker_open, bulkhead_full, no_instance).",
    ["upstream", "kind"],
)
FALLBACKS = Counter(
    "proxy_fallbacks_total",
    "Requests served by a route's fallback after its candidate failed.",
    ["route", "from_upstream", "to_upstream"],
)
CLIENT_DISCONNECTS = Counter(
    "proxy_client_disconnects_total",
    "Clients that went away mid-request or mid-response (not counted as upstream failures).",
    ["route"],
)
REJECTED = Counter(
    "proxy_rejected_total",
    "Requests answered by the proxy itself, by route and reason "
    "(rate_limited, unauthenticated, too_large, unsafe).",
    ["route", "reason"],
)
SHADOW_COMPARISONS = Counter(
    "proxy_shadow_comparisons_total",
    "Shadow comparisons by route and result (match, mismatch, error, dropped, streamed).",
    ["route", "result"],
)
SHADOW_LATENCY = Histogram(
    "proxy_shadow_duration_seconds",
    "Time the candidate took to answer a shadow copy, by route (lifecycle p99 gate in shadow).",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
