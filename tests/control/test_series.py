"""The control centre's time series: samples of the shared counters become points per route and
side; samples are kept in one store any worker reads; one process per host samples."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from strangler_proxy.control.series import (
    Sample,
    Sampler,
    SeriesStore,
    sample_from_metrics,
    series_document,
)

LAT = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _registry():
    registry = CollectorRegistry()
    requests = Counter(
        "proxy_upstream_requests", "r", ["route", "upstream", "status"], registry=registry
    )
    latency = Histogram(
        "proxy_upstream_duration_seconds", "l", ["route", "upstream"], buckets=LAT,
        registry=registry,
    )  # fmt: skip
    comparisons = Counter("proxy_shadow_comparisons", "c", ["route", "result"], registry=registry)
    breaker = Gauge("circuit_breaker_state", "b", ["name"], registry=registry)
    return registry, requests, latency, comparisons, breaker


def _sample(registry, at, outbox=None) -> Sample:
    samples = (s for m in registry.collect() for s in m.samples)
    return sample_from_metrics(at, samples, outbox or {})


def test_points_are_the_increase_per_side_between_samples():
    # given the proxy's own instruments and a sample before any traffic
    registry, requests, latency, comparisons, breaker = _registry()
    first = _sample(registry, 100.0, {"catalog": {"url": "u", "pending": 0.0}})
    # when 6 requests reach the monolith and 4 the catalog (one a 503), 2 of 3 shadows differ
    for _ in range(6):
        requests.labels("products", "monolith", "200").inc()
        latency.labels("products", "monolith").observe(0.02)
    for status in ("200", "200", "200", "503"):
        requests.labels("products", "catalog", status).inc()
        latency.labels("products", "catalog").observe(0.3)
    for result in ("match", "mismatch", "error", "dropped"):
        comparisons.labels("categories", result).inc()
    breaker.labels("catalog").set(2)
    second = _sample(registry, 105.0, {"catalog": {"url": "u", "pending": 4.0, "x": 1}})
    requests.labels("products", "monolith", "200").inc()
    third = _sample(registry, 110.0, {"catalog": {"url": "u", "error": "HTTP 500"}})

    doc = series_document(
        [first, second, third],
        routes={"products": "catalog", "categories": "catalog", "idle": None},
        upstreams=["monolith", "catalog"],
    )

    # then each point is what happened between two samples
    products = doc["routes"]["products"]
    assert [p["at"] for p in products["points"]] == [105.0, 110.0]
    sides = products["points"][0]["sides"]
    assert sides["monolith"] == {
        "requests": 6,
        "errors": 0,
        "error_rate": 0.0,
        "p99_ms": sides["monolith"]["p99_ms"],
    }
    assert (sides["catalog"]["requests"], sides["catalog"]["errors"]) == (4, 1)
    assert sides["catalog"]["error_rate"] == 0.25
    assert 10 < sides["monolith"]["p99_ms"] <= 25 < 250 < sides["catalog"]["p99_ms"] <= 500
    assert products["points"][1]["sides"] == {
        "monolith": {"requests": 1, "errors": 0, "error_rate": 0.0, "p99_ms": None}
    }
    assert products["totals"] == {
        "catalog": {"requests": 4, "errors": 1},
        "monolith": {"requests": 7, "errors": 0},
    }
    # a shadow's mismatch rate counts errors as mismatches and leaves dropped copies out
    categories = doc["routes"]["categories"]["points"][0]
    assert (categories["compared"], categories["mismatches"]) == (3, 2)
    assert categories["mismatch_rate"] == 0.6667
    # a route with no traffic has no points; the breaker and outbox per sample
    assert doc["routes"]["idle"] == {"candidate": None, "totals": {}, "points": []}
    assert [p["at"] for p in doc["routes"]["categories"]["points"]] == [105.0]
    assert [b["state"] for b in doc["breakers"]["catalog"]] == ["closed", "open", "open"]
    assert [b["state"] for b in doc["breakers"]["monolith"]] == ["closed"] * 3
    assert doc["outbox"]["catalog"] == [
        {"at": 100.0, "pending": 0.0},
        {"at": 105.0, "pending": 4.0},
        {"at": 110.0, "error": "HTTP 500"},
    ]
    assert (doc["samples"], doc["from"], doc["to"]) == (3, 100.0, 110.0)
    # and a worker asked again (its points kept) answers the same
    again = series_document(
        [first, second, third],
        routes={"products": "catalog", "categories": "catalog", "idle": None},
        upstreams=["monolith", "catalog"],
    )
    assert again == doc


def test_a_restarted_proxy_counts_from_zero_and_one_sample_draws_nothing():
    before = Sample(at=1.0, counters={"req|r|monolith|200": 50.0})
    after = Sample(at=2.0, counters={"req|r|monolith|200": 3.0})

    doc = series_document([before, after], routes={"r": None}, upstreams=[])

    assert doc["routes"]["r"]["points"][0]["sides"]["monolith"]["requests"] == 3
    assert series_document([before], routes={"r": None}, upstreams=[])["routes"]["r"] == {
        "candidate": None,
        "totals": {},
        "points": [],
    }


def test_the_store_keeps_an_hour_and_returns_the_latest_oldest_first(tmp_path):
    store = SeriesStore(tmp_path, keep_seconds=10.0)
    for at in range(0, 30, 5):
        store.add(Sample(at=float(at), counters={"req|r|m|200": float(at)}))

    # another worker's store on the same folder reads the same samples
    latest = SeriesStore(tmp_path).latest(2)

    assert [s.at for s in latest] == [20.0, 25.0]
    assert [s.at for s in store.latest(100)] == [15.0, 20.0, 25.0]
    assert latest[1].counters == {"req|r|m|200": 25.0}


def test_only_the_holder_of_the_host_lock_samples(tmp_path):
    store = SeriesStore(tmp_path)
    taken = []

    def read() -> Sample:
        taken.append(len(taken))
        return Sample(at=float(len(taken)), counters={})

    lock = tmp_path / "series.lock"
    leader = Sampler(store, read=read, lock_path=lock, step=1.0)
    other = Sampler(store, read=read, lock_path=lock, step=1.0)

    assert leader.tick() is True
    assert other.tick() is False
    assert leader.tick() is True
    assert len(taken) == 2 and len(store.latest(10)) == 2


def test_the_series_endpoint_is_for_staff_and_names_bad_input(make_proxy, start_upstream):
    from strangler_proxy.runtime import get_runtime
    from tests.proxy.conftest import ADMIN_TOKEN, routes_yaml, upstream_spec

    admin = {"HTTP_AUTHORIZATION": f"Bearer {ADMIN_TOKEN}"}
    monolith = start_upstream("monolith")
    client = make_proxy(
        routes_yaml(
            {"monolith": upstream_spec(monolith.url)},
            [{"name": "p", "prefix": "/p/", "mode": "monolith"}],
        )
    )
    runtime = get_runtime()
    # given two samples (what the sampler thread stores) around three requests
    runtime.series.add(runtime.read_sample())
    for _ in range(3):
        client.get("/p/1")
    runtime.series.add(runtime.read_sample())

    assert client.get("/_strangler/series").status_code == 401
    refused = client.get("/_strangler/series?points=1", **admin)
    assert refused.status_code == 400
    assert refused["Content-Type"] == "application/problem+json"
    assert "points" in refused.json()["detail"]
    doc = client.get("/_strangler/series", **admin).json()
    # the in-process registry is shared with earlier tests: what matters is the increase
    assert doc["routes"]["p"]["totals"] == {"monolith": {"requests": 3, "errors": 0}}
    assert doc["default_upstream"] == "monolith" and doc["step_seconds"] == 5.0
    assert doc["breakers"]["monolith"][-1]["state"] == "closed"
    # the fake monolith answers /metrics with no outbox gauges: read, but no number
    assert doc["outbox"]["monolith"][-1].get("pending") is None
