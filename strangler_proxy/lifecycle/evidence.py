"""Evidence: counter snapshots (typed keys), their increase over a window, what a candidate did.

Evidence is read from the counters the proxy already keeps (Prometheus, summed over workers):
the evaluator snapshots them and subtracts an older snapshot, like PromQL's `increase()`, so
the request path pays nothing extra.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from strangler_proxy.lifecycle.policy import LifecycleError
from strangler_proxy.lifecycle.stages import MONOLITH, SHADOW, Stage


class Counter(StrEnum):
    """The kind of a snapshot key; a key is `kind|label|...` (the stored snapshot format)."""

    REQUESTS = "req"  # route, upstream, status
    FALLBACKS = "fb"  # route, from_upstream
    COMPARISONS = "cmp"  # route, result
    LATENCY = "lat"  # route, upstream, le
    SHADOW_LATENCY = "slat"  # route, le


def counter_key(kind: Counter, *labels: str) -> str:
    return "|".join((kind.value, *labels))


Snapshot = dict[str, float]

# metric name -> (kind, the labels that make the key, in order)
_COUNTED: dict[str, tuple[Counter, tuple[str, ...]]] = {
    "proxy_upstream_requests_total": (Counter.REQUESTS, ("route", "upstream", "status")),
    "proxy_fallbacks_total": (Counter.FALLBACKS, ("route", "from_upstream")),
    "proxy_shadow_comparisons_total": (Counter.COMPARISONS, ("route", "result")),
    "proxy_upstream_duration_seconds_bucket": (Counter.LATENCY, ("route", "upstream", "le")),
    "proxy_shadow_duration_seconds_bucket": (Counter.SHADOW_LATENCY, ("route", "le")),
}


def snapshot_from_samples(samples: Iterable[Any]) -> Snapshot:
    """The counters evidence is made of, flattened to typed `kind|label|...` keys."""
    out: Snapshot = {}
    for s in samples:
        counted = _COUNTED.get(s.name)
        if counted is not None:
            key = counter_key(counted[0], *(s.labels[label] for label in counted[1]))
            out[key] = out.get(key, 0.0) + s.value
    return out


def summed(*snapshots: Snapshot) -> Snapshot:
    """One snapshot of several sources' counters (the Python proxy's metrics, nginx's log)."""
    total: Snapshot = {}
    for snapshot in snapshots:
        for key, value in snapshot.items():
            total[key] = total.get(key, 0.0) + value
    return total


def delta(current: Snapshot, base: Snapshot) -> Snapshot:
    """current - base per key; a counter that went down (a restart) counts from zero."""
    out = {}
    for key, value in current.items():
        before = base.get(key, 0.0)
        out[key] = value - before if value >= before else value
    return out


def quantile_ms(buckets: dict[float, float], q: float = 0.99) -> float | None:
    """histogram_quantile over cumulative bucket counts, in milliseconds (None: no samples)."""
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound * 1000.0  # above the top bucket: report its bound, as PromQL
            width = count - lower_count
            fraction = (rank - lower_count) / width if width else 1.0
            return (lower_bound + (bound - lower_bound) * fraction) * 1000.0
        lower_bound, lower_count = bound, count
    return lower_bound * 1000.0


@dataclass(frozen=True)
class Evidence:
    """What the candidate did over the window; rates are None when nothing was measured."""

    stage: Stage
    window_seconds: float
    requests: int
    errors: int
    error_rate: float | None
    compared: int | None = None
    mismatches: int | None = None
    mismatch_rate: float | None = None
    p99_ms: float | None = None
    primary_requests: int = 0
    since: float = 0.0
    measured_from: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stage": str(self.stage)}


def buckets(window: Snapshot, prefix: str) -> dict[float, float]:
    """A histogram's cumulative counts by upper bound, from the keys under `prefix`."""
    out: dict[float, float] = {}
    for key, value in window.items():
        if key.startswith(prefix):
            out[float(key[len(prefix) :])] = out.get(float(key[len(prefix) :]), 0.0) + value
    return out


def evidence_for(
    window: Snapshot,
    *,
    route: str,
    stage: Stage,
    candidate: str,
    primary: str,
    window_seconds: float,
    since: float = 0.0,
    measured_from: float = 0.0,
) -> Evidence:
    """Evidence of one route's candidate from counter increases over the window (pure)."""
    common = {"stage": stage, "window_seconds": window_seconds, "since": since}
    common["measured_from"] = measured_from
    primary_prefix = counter_key(Counter.REQUESTS, route, primary, "")
    primary_requests = int(sum(v for k, v in window.items() if k.startswith(primary_prefix)))
    if stage == SHADOW:
        results = {
            r: int(window.get(counter_key(Counter.COMPARISONS, route, r), 0))
            for r in ("match", "mismatch", "error")
        }
        compared = sum(results.values())
        failing = results["mismatch"] + results["error"]
        return Evidence(
            requests=compared,
            errors=results["error"],
            error_rate=results["error"] / compared if compared else None,
            compared=compared,
            mismatches=failing,
            mismatch_rate=failing / compared if compared else None,
            p99_ms=quantile_ms(buckets(window, counter_key(Counter.SHADOW_LATENCY, route, ""))),
            primary_requests=primary_requests,
            **common,
        )
    if stage == MONOLITH:
        return Evidence(
            requests=0, errors=0, error_rate=None, primary_requests=primary_requests, **common
        )
    answered = errors = 0
    candidate_prefix = counter_key(Counter.REQUESTS, route, candidate, "")
    for key, value in window.items():
        if key.startswith(candidate_prefix):
            status = int(key.rsplit("|", 1)[1])
            answered += int(value)
            if status == 0 or status >= 500:
                errors += int(value)
    fell_back = int(window.get(counter_key(Counter.FALLBACKS, route, candidate), 0))
    if candidate == primary:  # a misconfigured route: nothing to tell apart
        fell_back = 0
    requests = answered + fell_back
    return Evidence(
        requests=requests,
        errors=errors + fell_back,
        error_rate=(errors + fell_back) / requests if requests else None,
        p99_ms=quantile_ms(buckets(window, counter_key(Counter.LATENCY, route, candidate, ""))),
        primary_requests=primary_requests - (fell_back if primary else 0),
        **common,
    )


# --- where snapshots come from ------------------------------------------------------------


def local_snapshot() -> Snapshot:
    """This host's proxy workers (PROMETHEUS_MULTIPROC_DIR) or this process."""
    from servicekit.web.metrics import registry_for_scrape

    return snapshot_from_samples(s for m in registry_for_scrape().collect() for s in m.samples)


def http_snapshot(urls: list[str], *, timeout: float = 5.0) -> Callable[[], Snapshot]:
    """Sum of `GET <proxy>/_strangler/metrics` over every proxy replica given."""
    import urllib3
    from prometheus_client.parser import text_string_to_metric_families

    http = urllib3.PoolManager()

    def read() -> Snapshot:
        total: Snapshot = {}
        for url in urls:
            response = http.request("GET", url, timeout=timeout, retries=False)
            if response.status != 200:
                raise LifecycleError(f"{url} answered {response.status}")
            families = text_string_to_metric_families(response.data.decode())
            for key, value in snapshot_from_samples(s for f in families for s in f.samples).items():
                total[key] = total.get(key, 0.0) + value
        return total

    return read
