"""The control centre's time series: samples of the proxy's shared counters, breaker states and
each service's outbox lag, taken off the request path and kept for an hour; points per route
and side are the counters' increase between two samples (what `increase()` is to PromQL).

One process per host samples (the holder of a lock file); the samples go to a small SQLite file
any worker reads, and each one is the sum over every worker (PROMETHEUS_MULTIPROC_DIR), so the
series is the same whichever worker answers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from strangler_proxy.lifecycle.evaluator import host_lock
from strangler_proxy.lifecycle.evidence import (
    Counter,
    Snapshot,
    delta,
    quantile_ms,
    snapshot_from_samples,
    summed,
)

logger = logging.getLogger("strangler_proxy.control")

BREAKER_METRIC = "circuit_breaker_state"
BREAKER_NAMES = {0: "closed", 1: "half-open", 2: "open"}
KEEP_SECONDS = 3600.0


@dataclass(frozen=True)
class Sample:
    """What the proxy had counted at `at` (summed over workers), and what it saw around it."""

    at: float
    counters: Snapshot
    breakers: dict[str, int] = field(default_factory=dict)
    outbox: dict[str, dict[str, Any]] = field(default_factory=dict)


def sample_from_metrics(
    at: float,
    samples: Iterable[Any],
    outbox: dict[str, dict[str, Any]],
    *,
    served_elsewhere: Snapshot | None = None,
) -> Sample:
    """One sample from a scrape of the proxy's own registry and the services' outbox lag;
    `served_elsewhere`: the same counters for traffic another plane served (nginx's log),
    added in."""
    counted, breakers = [], {}
    for s in samples:
        if s.name == BREAKER_METRIC:
            breakers[s.labels["name"]] = max(breakers.get(s.labels["name"], 0), int(s.value))
        else:
            counted.append(s)
    lag = {
        name: {k: v for k, v in row.items() if k in ("pending", "oldest_age_seconds", "error")}
        for name, row in outbox.items()
    }
    counters = summed(snapshot_from_samples(counted), served_elsewhere or {})
    return Sample(at=at, counters=counters, breakers=breakers, outbox=lag)


class SeriesStore:
    """Samples in `control-series.sqlite3`, the oldest dropped after `keep_seconds`."""

    def __init__(self, folder: Path, *, keep_seconds: float = KEEP_SECONDS):
        self.path = Path(folder) / "control-series.sqlite3"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.keep_seconds = keep_seconds
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS samples (at REAL PRIMARY KEY, data TEXT)")

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()

    def add(self, sample: Sample) -> None:
        data = {"counters": sample.counters, "breakers": sample.breakers, "outbox": sample.outbox}
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO samples VALUES (?, ?)", (sample.at, json.dumps(data))
            )
            db.execute("DELETE FROM samples WHERE at < ?", (sample.at - self.keep_seconds,))

    def latest(self, count: int) -> list[Sample]:
        """The last `count` samples, oldest first."""
        with self._db() as db:
            rows = db.execute(
                "SELECT at, data FROM samples ORDER BY at DESC LIMIT ?", (count,)
            ).fetchall()
        return [Sample(at=at, **json.loads(data)) for at, data in reversed(rows)]


class Sampler:
    """Every `step` s, while this process holds the host's lock, stores `read()`'s sample."""

    def __init__(
        self, store: SeriesStore, *, read: Callable[[], Sample], lock_path: Path, step: float
    ):
        self.store = store
        self.read = read
        self.lock_path = Path(lock_path)
        self.step = step
        self.stopped = threading.Event()
        self._handle: Any = None

    def tick(self) -> bool:
        if self._handle is None:
            self._handle = host_lock(self.lock_path)
            if self._handle is None:
                return False
        self.store.add(self.read())
        return True

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.tick()
            except Exception:
                logger.exception("control centre sample failed")
            self.stopped.wait(self.step)

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="control-series", daemon=True)
        thread.start()
        return thread


# --- from samples to points (pure) --------------------------------------------------------


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _by_route(window: Snapshot) -> dict[str, dict[str, Any]]:
    """Per route, in one pass over the window: requests and errors (5xx or no answer) and the
    latency histogram per upstream, shadow results."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in window.items():
        if not value:
            continue
        kind, route, *rest = key.split("|")
        row = out.setdefault(route, {"sides": {}, "latency": {}, "cmp": {}})
        if kind == Counter.REQUESTS:
            side = row["sides"].setdefault(rest[0], {"requests": 0, "errors": 0})
            side["requests"] += int(value)
            if int(rest[1]) == 0 or int(rest[1]) >= 500:
                side["errors"] += int(value)
        elif kind == Counter.LATENCY:
            row["latency"].setdefault(rest[0], {})[float(rest[1])] = value
        elif kind == Counter.COMPARISONS:
            row["cmp"][rest[0]] = row["cmp"].get(rest[0], 0) + int(value)
    return out


def _route_point(at: float, counts: dict[str, Any]) -> dict:
    sides = {}
    for side, n in sorted(counts["sides"].items()):
        p99 = quantile_ms(counts["latency"].get(side, {}))
        sides[side] = {
            **n,
            "error_rate": _rate(n["errors"], n["requests"]),
            "p99_ms": round(p99, 2) if p99 is not None else None,
        }
    cmp = counts["cmp"]
    compared = sum(cmp.get(r, 0) for r in ("match", "mismatch", "error"))
    failing = cmp.get("mismatch", 0) + cmp.get("error", 0)
    return {
        "at": at,
        "sides": sides,
        "compared": compared,
        "mismatches": failing,
        "mismatch_rate": _rate(failing, compared),
    }


# Stored samples never change: each worker keeps the points between two of them, so a poll
# computes only the pairs sampled since the last one (bounded: an hour of samples, twice).
_POINTS: dict[tuple[float, float, float], dict[str, dict]] = {}
_POINTS_KEPT = 1440


def _points_between(before: Sample, after: Sample) -> dict[str, dict]:
    key = (before.at, after.at, sum(after.counters.values()) - sum(before.counters.values()))
    points = _POINTS.get(key)
    if points is None:
        points = {}
        for route, counts in sorted(_by_route(delta(after.counters, before.counters)).items()):
            point = _route_point(after.at, counts)
            if point["sides"] or point["compared"]:
                points[route] = point
        if len(_POINTS) >= _POINTS_KEPT:
            for old in sorted(_POINTS)[: _POINTS_KEPT // 2]:
                _POINTS.pop(old, None)
        _POINTS[key] = points
    return points


def series_document(
    samples: list[Sample], *, routes: dict[str, str | None], upstreams: list[str]
) -> dict[str, Any]:
    """Points between consecutive samples where a route had traffic or shadow comparisons (a
    route idle all along has none): per route (`routes` maps a name to its candidate), per
    upstream its breaker state, per service its outbox lag at each sample."""
    per_route: dict[str, list[dict]] = {name: [] for name in routes}
    for before, after in pairwise(samples):
        for route, point in _points_between(before, after).items():
            per_route.setdefault(route, []).append(point)
    route_rows = {}
    for route, points in per_route.items():
        totals: dict[str, dict[str, int]] = {}
        for point in points:
            for side, n in point["sides"].items():
                total = totals.setdefault(side, {"requests": 0, "errors": 0})
                total["requests"] += n["requests"]
                total["errors"] += n["errors"]
        route_rows[route] = {"candidate": routes.get(route), "totals": totals, "points": points}
    services = sorted({name for s in samples for name in s.outbox})
    return {
        "samples": len(samples),
        "from": samples[0].at if samples else None,
        "to": samples[-1].at if samples else None,
        "routes": route_rows,
        "breakers": {
            name: [
                {"at": s.at, "state": BREAKER_NAMES.get(s.breakers.get(name, 0), "open")}
                for s in samples
            ]
            for name in sorted(upstreams)
        },
        "outbox": {
            name: [{"at": s.at, **s.outbox[name]} for s in samples if name in s.outbox]
            for name in services
        },
    }
