"""`python benchmarks/bench_control_series.py`: what the control centre's plots cost, off the
request path: one sample (a scrape of the proxy's registry), storing it, and building
`/_strangler/series` from the last 120 samples (cold, and with the points a worker keeps).

A registry like a busy proxy's: R routes (default 15) with two sides each, every status seen,
latency histograms, shadow results and five breakers. Prints the median of K runs (default 50)
in milliseconds, and the stored size of one sample.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram  # noqa: E402

from servicekit.web.metrics import LATENCY_BUCKETS  # noqa: E402
from strangler_proxy.control import series  # noqa: E402
from strangler_proxy.control.series import (  # noqa: E402
    SeriesStore,
    sample_from_metrics,
    series_document,
)


def busy_registry(routes: int) -> tuple[CollectorRegistry, Counter, Histogram]:
    registry = CollectorRegistry()
    requests = Counter(
        "proxy_upstream_requests", "", ["route", "upstream", "status"], registry=registry
    )
    latency = Histogram(
        "proxy_upstream_duration_seconds", "", ["route", "upstream"], buckets=LATENCY_BUCKETS,
        registry=registry,
    )  # fmt: skip
    shadow = Counter("proxy_shadow_comparisons", "", ["route", "result"], registry=registry)
    breakers = Gauge("circuit_breaker_state", "", ["name"], registry=registry)
    for name in ("monolith", "catalog", "notifications", "orders", "users"):
        breakers.labels(name).set(0)
    for r in range(routes):
        for result in ("match", "mismatch", "error", "dropped"):
            shadow.labels(f"route-{r}", result).inc()
    return registry, requests, latency


def traffic(requests: Counter, latency: Histogram, routes: int) -> None:
    for r in range(routes):
        for side in ("monolith", "catalog"):
            for status in ("200", "201", "404", "503"):
                requests.labels(f"route-{r}", side, status).inc(10)
            latency.labels(f"route-{r}", side).observe(0.03)


def median_ms(run, times: int) -> float:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        spent.append((time.perf_counter() - started) * 1000)
    return statistics.median(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=15)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    registry, requests, latency = busy_registry(args.routes)
    outbox = {n: {"url": "u", "pending": 0.0, "oldest_age_seconds": 0.0} for n in ("a", "b")}

    def sample(at: float):
        traffic(requests, latency, args.routes)
        return sample_from_metrics(at, (s for m in registry.collect() for s in m.samples), outbox)

    with tempfile.TemporaryDirectory() as folder:
        store = SeriesStore(Path(folder))
        for at in range(120):
            store.add(sample(float(at)))
        one = sample(120.0)
        routes = {f"route-{r}": "catalog" for r in range(args.routes)}
        samples = store.latest(120)
        print(f"{args.routes} routes x 2 sides; median of {args.runs} runs")
        print(
            f"  one sample (scrape the registry):   {median_ms(lambda: sample(1e6), args.runs):7.2f} ms"
        )
        print(
            f"  store it (SQLite):                  {median_ms(lambda: store.add(one), args.runs):7.2f} ms"
        )
        print(
            f"  read 120 samples:                   {median_ms(lambda: store.latest(120), args.runs):7.2f} ms"
        )

        def build():
            series_document(samples, routes=routes, upstreams=["monolith", "catalog"])

        def build_cold():
            series._POINTS.clear()
            build()

        print(f"  build /_strangler/series (120):     {median_ms(build_cold, args.runs):7.2f} ms")
        print(f"  the same, the points kept:          {median_ms(build, args.runs):7.2f} ms")
        size = len(json.dumps(one.counters))
        print(f"  one stored sample:                  {size / 1024:7.1f} KiB")
        doc = series_document(samples, routes=routes, upstreams=["monolith", "catalog"])
        print(f"  /_strangler/series document:        {len(json.dumps(doc)) / 1024:7.1f} KiB")


if __name__ == "__main__":
    main()
