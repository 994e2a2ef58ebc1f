"""Route lifecycle: monolith -> shadow -> canary steps -> extracted -> retired, gated on evidence.

Evidence is read from the counters the proxy already keeps (Prometheus, summed over workers):
the evaluator snapshots them and subtracts an older snapshot, like PromQL's `increase()`, so the
request path pays nothing extra. Snapshots and stage starts live in SQLite in the data folder;
every promotion, rollback and refusal is appended to `lifecycle.jsonl` there with its evidence.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from strangler_proxy.table_source import read_raw, write_raw

logger = logging.getLogger("strangler_proxy.lifecycle")

MONOLITH, SHADOW, EXTRACTED, RETIRED = "monolith", "shadow", "extracted", "retired"
DEFAULT_STEPS = (5, 25, 50, 100)


class LifecycleError(ValueError):
    """A lifecycle action is refused; `str()` says why."""


# --- configuration (the route's `lifecycle:` block) ------------------------------------------


@dataclass(frozen=True)
class Gates:
    min_requests: int = 200
    max_mismatch_rate: float = 0.01
    max_error_rate: float = 0.01
    max_p99_ms: float = 500.0
    window_seconds: float = 300.0
    rollback_min_requests: int = 20


@dataclass(frozen=True)
class Lifecycle:
    gates: Gates = Gates()
    canary_steps: tuple[float, ...] = DEFAULT_STEPS
    auto: bool = False
    retired: bool = False


def lifecycle_of(route: dict[str, Any]) -> Lifecycle:
    """The route's lifecycle block with defaults (a route without one is never moved by itself)."""
    block = route.get("lifecycle") or {}
    gates = Gates(**(block.get("gates") or {}))
    steps = tuple(float(s) for s in block.get("canary_steps", DEFAULT_STEPS))
    if list(steps) != sorted(set(steps)):
        raise LifecycleError(
            f"route {route.get('name')!r}: lifecycle.canary_steps must rise strictly: {list(steps)}"
        )
    return Lifecycle(
        gates=gates,
        canary_steps=steps,
        auto=bool(block.get("auto", False)),
        retired=bool(block.get("retired", False)),
    )


# --- stages -----------------------------------------------------------------------------------


def stage_of(route: dict[str, Any]) -> str:
    mode = route.get("mode", MONOLITH)
    if mode == "canary":
        return f"canary:{_num(route.get('percent', 0))}"
    if mode == EXTRACTED and (route.get("lifecycle") or {}).get("retired"):
        return RETIRED
    return mode


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def next_stage(stage: str, steps: tuple[float, ...]) -> str | None:
    """The stage a promotion leads to; None after `retired`."""
    if stage == MONOLITH:
        return SHADOW
    if stage == SHADOW:
        return f"canary:{_num(steps[0])}" if steps else EXTRACTED
    if stage.startswith("canary:"):
        percent = float(stage.split(":", 1)[1])
        higher = [s for s in steps if s > percent]
        return f"canary:{_num(higher[0])}" if higher else EXTRACTED
    if stage == EXTRACTED:
        return RETIRED
    return None


def stage_changes(stage: str, *, route: dict[str, Any], default_upstream: str) -> dict[str, Any]:
    """The route fields a move to `stage` writes (None removes a field)."""
    if stage.startswith("canary:"):
        return {"mode": "canary", "percent": float(stage.split(":", 1)[1])}
    changes: dict[str, Any] = {"mode": EXTRACTED if stage == RETIRED else stage, "percent": None}
    if stage == RETIRED and route.get("fallback") == default_upstream:
        changes["fallback"] = None  # the monolith's code for this route is gone
    return changes


# --- evidence -----------------------------------------------------------------------------

Snapshot = dict[str, float]


def snapshot_from_samples(samples: Iterable[Any]) -> Snapshot:
    """The counters evidence is made of, flattened to `kind|label|...` keys."""
    out: Snapshot = {}

    def add(key: str, value: float) -> None:
        out[key] = out.get(key, 0.0) + value

    for s in samples:
        labels = s.labels
        if s.name == "proxy_upstream_requests_total":
            add(f"req|{labels['route']}|{labels['upstream']}|{labels['status']}", s.value)
        elif s.name == "proxy_fallbacks_total":
            add(f"fb|{labels['route']}|{labels['from_upstream']}", s.value)
        elif s.name == "proxy_shadow_comparisons_total":
            add(f"cmp|{labels['route']}|{labels['result']}", s.value)
        elif s.name == "proxy_upstream_duration_seconds_bucket":
            add(f"lat|{labels['route']}|{labels['upstream']}|{labels['le']}", s.value)
        elif s.name == "proxy_shadow_duration_seconds_bucket":
            add(f"slat|{labels['route']}|{labels['le']}", s.value)
    return out


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

    stage: str
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
        return asdict(self)


def _buckets(window: Snapshot, prefix: str) -> dict[float, float]:
    out: dict[float, float] = {}
    for key, value in window.items():
        if key.startswith(prefix):
            out[float(key[len(prefix) :])] = out.get(float(key[len(prefix) :]), 0.0) + value
    return out


def evidence_for(
    window: Snapshot,
    *,
    route: str,
    stage: str,
    candidate: str,
    primary: str,
    window_seconds: float,
    since: float = 0.0,
    measured_from: float = 0.0,
) -> Evidence:
    """Evidence of one route's candidate from counter increases over the window (pure)."""
    common = {"stage": stage, "window_seconds": window_seconds, "since": since}
    common["measured_from"] = measured_from
    primary_requests = int(
        sum(v for k, v in window.items() if k.startswith(f"req|{route}|{primary}|"))
    )
    if stage == SHADOW:
        results = {
            r: int(window.get(f"cmp|{route}|{r}", 0)) for r in ("match", "mismatch", "error")
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
            p99_ms=quantile_ms(_buckets(window, f"slat|{route}|")),
            primary_requests=primary_requests,
            **common,
        )
    if stage == MONOLITH:
        return Evidence(
            requests=0, errors=0, error_rate=None, primary_requests=primary_requests, **common
        )
    answered = errors = 0
    for key, value in window.items():
        if key.startswith(f"req|{route}|{candidate}|"):
            status = int(key.rsplit("|", 1)[1])
            answered += int(value)
            if status == 0 or status >= 500:
                errors += int(value)
    fell_back = int(window.get(f"fb|{route}|{candidate}", 0))
    if candidate == primary:  # a misconfigured route: nothing to tell apart
        fell_back = 0
    requests = answered + fell_back
    return Evidence(
        requests=requests,
        errors=errors + fell_back,
        error_rate=(errors + fell_back) / requests if requests else None,
        p99_ms=quantile_ms(_buckets(window, f"lat|{route}|{candidate}|")),
        primary_requests=primary_requests - (fell_back if primary else 0),
        **common,
    )


# --- the decision (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    action: str  # promote | rollback | hold
    to_stage: str | None
    reasons: tuple[str, ...] = ()
    promotable: bool = False


def _over(value: float | None, bound: float) -> bool:
    return value is not None and value > bound


def promotion_faults(stage: str, evidence: Evidence, gates: Gates) -> list[str]:
    """Why a promotion out of `stage` is not (yet) allowed; empty when it is."""
    if stage == MONOLITH:
        return []  # nothing to measure before the candidate sees traffic: the operator starts
    if stage == RETIRED:
        return ["the route is retired: nothing further"]
    faults = []
    if evidence.requests < gates.min_requests:
        faults.append(
            f"not enough evidence: {evidence.requests} candidate requests in the window, "
            f"{gates.min_requests} needed"
        )
    if stage == SHADOW and _over(evidence.mismatch_rate, gates.max_mismatch_rate):
        faults.append(
            f"mismatch rate {evidence.mismatch_rate:.4f} > {gates.max_mismatch_rate}"  # type: ignore[str-format]
        )
    if _over(evidence.error_rate, gates.max_error_rate):
        faults.append(f"error rate {evidence.error_rate:.4f} > {gates.max_error_rate}")
    if _over(evidence.p99_ms, gates.max_p99_ms):
        faults.append(f"p99 {evidence.p99_ms:.1f} ms > {gates.max_p99_ms} ms")
    return faults


def rollback_faults(stage: str, evidence: Evidence, gates: Gates) -> list[str]:
    """Why the candidate must be taken out of traffic now; empty when it is healthy enough."""
    if stage == MONOLITH or evidence.requests < gates.rollback_min_requests:
        return []
    faults = []
    if _over(evidence.error_rate, gates.max_error_rate):
        faults.append(f"error rate {evidence.error_rate:.4f} > {gates.max_error_rate}")
    if _over(evidence.mismatch_rate, gates.max_mismatch_rate):
        faults.append(f"mismatch rate {evidence.mismatch_rate:.4f} > {gates.max_mismatch_rate}")
    return faults


def decide(stage: str, lifecycle: Lifecycle, evidence: Evidence) -> Verdict:
    """Rollback first; then promotion when `auto` and every gate holds; else hold, with reasons."""
    gates = lifecycle.gates
    bad = rollback_faults(stage, evidence, gates)
    if bad and stage == RETIRED:
        return Verdict("hold", None, ("ALERT: candidate failing but the route is retired", *bad))
    if bad:
        return Verdict("rollback", MONOLITH, tuple(bad))
    target = next_stage(stage, lifecycle.canary_steps)
    faults = promotion_faults(stage, evidence, gates)
    promotable = target is not None and not faults
    if stage == MONOLITH:
        return Verdict("hold", target, ("start with `lifecycle promote`",), promotable)
    if target == RETIRED:
        return Verdict("hold", target, ("retiring is a human decision", *faults), promotable)
    if not lifecycle.auto:
        return Verdict("hold", target, ("auto is off", *faults), promotable)
    if faults:
        return Verdict("hold", target, tuple(faults), False)
    return Verdict("promote", target, (), True)


# --- where evidence comes from ----------------------------------------------------------------


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


# --- state: snapshots, stage starts, history ------------------------------------------------


class LifecycleStore:
    """SQLite (snapshots, stage starts) and an append-only JSON-lines history, in one folder."""

    def __init__(self, folder: Path, *, keep_seconds: float = 3600.0):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.history_path = self.folder / "lifecycle.jsonl"
        self.keep_seconds = keep_seconds
        self._db_path = self.folder / "lifecycle.sqlite3"
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS snapshots (at REAL, data TEXT)")
            db.execute("CREATE INDEX IF NOT EXISTS snapshots_at ON snapshots (at)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS stages "
                "(route TEXT PRIMARY KEY, stage TEXT, since REAL, base TEXT)"
            )

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self._db_path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()

    def add_snapshot(self, at: float, snap: Snapshot) -> None:
        with self._db() as db:
            db.execute("INSERT INTO snapshots VALUES (?, ?)", (at, json.dumps(snap)))
            db.execute("DELETE FROM snapshots WHERE at < ?", (at - self.keep_seconds,))

    def snapshot_before(self, at: float) -> tuple[float, Snapshot] | None:
        with self._db() as db:
            row = db.execute(
                "SELECT at, data FROM snapshots WHERE at <= ? ORDER BY at DESC LIMIT 1", (at,)
            ).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def stage(self, route: str) -> tuple[str, float, Snapshot] | None:
        with self._db() as db:
            row = db.execute(
                "SELECT stage, since, base FROM stages WHERE route = ?", (route,)
            ).fetchone()
        return (row[0], row[1], json.loads(row[2])) if row else None

    def set_stage(self, route: str, stage: str, since: float, base: Snapshot) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO stages VALUES (?, ?, ?, ?)",
                (route, stage, since, json.dumps(base)),
            )

    def record(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":"), sort_keys=True)
        with open(self.history_path, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(line + "\n")

    def history(self, *, route: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        try:
            lines = self.history_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in reversed(lines):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if route is None or entry.get("route") == route:
                out.append(entry)
                if len(out) >= limit:
                    break
        return out


# --- the controller ----------------------------------------------------------------------------


@dataclass
class RouteStatus:
    route: str
    stage: str
    next_stage: str | None
    auto: bool
    gates: dict[str, Any]
    evidence: dict[str, Any]
    verdict: str
    reasons: list[str] = field(default_factory=list)
    promotable: bool = False


class Controller:
    """Reads evidence, decides and moves routes; one per evaluator, CLI call or admin request."""

    def __init__(
        self,
        *,
        routes_file: str | os.PathLike[str],
        store: LifecycleStore,
        read_snapshot: Callable[[], Snapshot],
        clock: Callable[[], float] = time.time,
    ):
        self.routes_file = routes_file
        self.store = store
        self.read_snapshot = read_snapshot
        self.clock = clock

    def _routes(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        data = read_raw(self.routes_file)
        return data, [r for r in data.get("routes", []) if r.get("upstream")]

    def _stage_start(self, route: dict, stage: str, now: float, snap: Snapshot):
        known = self.store.stage(route["name"])
        if known is None or known[0] != stage:  # moved by us, an operator or a deploy
            self.store.set_stage(route["name"], stage, now, snap)
            return now, snap
        return known[1], known[2]

    def _evidence(self, route: dict, stage: str, lc: Lifecycle, default: str, now, snap):
        since, base = self._stage_start(route, stage, now, snap)
        window_start = now - lc.gates.window_seconds
        measured_from = since
        older = self.store.snapshot_before(window_start)
        if older is not None and older[0] > since:
            measured_from, base = older
        return evidence_for(
            delta(snap, base),
            route=route["name"],
            stage=stage,
            candidate=route.get("upstream") or default,
            primary=default,
            window_seconds=lc.gates.window_seconds,
            since=since,
            measured_from=measured_from,
        )

    def status(self, *, act: bool = False, by: str = "evaluator") -> list[RouteStatus]:
        """Every route with a candidate: stage, evidence and verdict; with `act`, apply verdicts."""
        now = self.clock()
        snap = self.read_snapshot()
        self.store.add_snapshot(now, snap)
        data, routes = self._routes()
        default = data.get("default_upstream", MONOLITH)
        out = []
        for route in routes:
            lc = lifecycle_of(route)
            stage = stage_of(route)
            evidence = self._evidence(route, stage, lc, default, now, snap)
            verdict = decide(stage, lc, evidence)
            status = RouteStatus(
                route=route["name"],
                stage=stage,
                next_stage=next_stage(stage, lc.canary_steps),
                auto=lc.auto,
                gates=asdict(lc.gates),
                evidence=evidence.as_dict(),
                verdict=verdict.action,
                reasons=list(verdict.reasons),
                promotable=verdict.promotable,
            )
            if act and verdict.action in ("promote", "rollback") and verdict.to_stage:
                try:
                    self._move(
                        route["name"],
                        stage,
                        verdict.to_stage,
                        by=by,
                        action=verdict.action,
                        evidence=evidence,
                        gates=lc.gates,
                        reasons=list(verdict.reasons),
                        expect_stage=stage,
                        snap=snap,
                        now=now,
                    )
                    status.verdict = f"{verdict.action}d"
                except LifecycleError as exc:
                    logger.warning("lifecycle: %s not moved: %s", route["name"], exc)
            out.append(status)
        return out

    def _move(
        self,
        name: str,
        stage: str,
        to_stage: str,
        *,
        by: str,
        action: str,
        evidence: Evidence | None,
        gates: Gates,
        reasons: list[str],
        expect_stage: str,
        snap: Snapshot,
        now: float,
        forced: bool = False,
    ) -> dict[str, Any]:
        with _file_lock(Path(f"{self.routes_file}.lifecycle.lock")):
            data = read_raw(self.routes_file)
            route = next((r for r in data.get("routes", []) if r.get("name") == name), None)
            if route is None:
                raise LifecycleError(f"no route named {name!r}")
            if stage_of(route) != expect_stage:
                raise LifecycleError(f"{name} changed meanwhile (now {stage_of(route)})")
            default = data.get("default_upstream", MONOLITH)
            for key, value in stage_changes(
                to_stage, route=route, default_upstream=default
            ).items():
                if value is None:
                    route.pop(key, None)
                else:
                    route[key] = value
            block = route.get("lifecycle")
            if to_stage == RETIRED:
                route["lifecycle"] = block = {**(block or {}), "retired": True}
            elif block and block.get("retired"):
                block.pop("retired")
            write_raw(self.routes_file, data)
        self.store.set_stage(name, to_stage, now, snap)
        entry = {
            "at": now,
            "route": name,
            "action": action,
            "from": stage,
            "to": to_stage,
            "by": by,
            "forced": forced,
            "reasons": reasons,
            "gates": asdict(gates),
            "evidence": evidence.as_dict() if evidence else None,
        }
        self.store.record(entry)
        logger.warning("lifecycle: %s %s %s -> %s (%s)", name, action, stage, to_stage, by)
        return entry

    def _one(self, name: str) -> tuple[dict, str, Lifecycle, Evidence, Snapshot, float]:
        now = self.clock()
        snap = self.read_snapshot()
        self.store.add_snapshot(now, snap)
        data, routes = self._routes()
        route = next((r for r in routes if r.get("name") == name), None)
        if route is None:
            raise LifecycleError(f"no route named {name!r} with an upstream (candidate)")
        lc = lifecycle_of(route)
        stage = stage_of(route)
        default = data.get("default_upstream", MONOLITH)
        return route, stage, lc, self._evidence(route, stage, lc, default, now, snap), snap, now

    def promote(self, name: str, *, by: str, force: bool = False) -> dict[str, Any]:
        """One step forward when the gates hold (or `force`); a refusal is recorded and raised."""
        _route, stage, lc, evidence, snap, now = self._one(name)
        target = next_stage(stage, lc.canary_steps)
        if target is None:
            raise LifecycleError(f"{name} is {stage}: there is no further stage")
        faults = promotion_faults(stage, evidence, lc.gates)
        if faults and not force:
            self.store.record(
                {
                    "at": now,
                    "route": name,
                    "action": "refused",
                    "from": stage,
                    "to": target,
                    "by": by,
                    "forced": False,
                    "reasons": faults,
                    "gates": asdict(lc.gates),
                    "evidence": evidence.as_dict(),
                }
            )
            raise LifecycleError(f"promotion of {name} to {target} refused: " + "; ".join(faults))
        return self._move(
            name,
            stage,
            target,
            by=by,
            action="promote",
            evidence=evidence,
            gates=lc.gates,
            reasons=faults,
            expect_stage=stage,
            snap=snap,
            now=now,
            forced=bool(faults),
        )

    def rollback(self, name: str, *, by: str, reason: str = "operator") -> dict[str, Any]:
        """All traffic back to the monolith; refused once the route is retired."""
        _route, stage, lc, evidence, snap, now = self._one(name)
        if stage == RETIRED:
            raise LifecycleError(f"{name} is retired: the monolith no longer serves it")
        if stage == MONOLITH:
            raise LifecycleError(f"{name} is already on the monolith")
        return self._move(
            name,
            stage,
            MONOLITH,
            by=by,
            action="rollback",
            evidence=evidence,
            gates=lc.gates,
            reasons=[reason],
            expect_stage=stage,
            snap=snap,
            now=now,
        )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- the evaluator loop --------------------------------------------------------------------


class Evaluator:
    """Ticks `Controller.status(act=True)` every `interval` s while it holds the evaluator lock,
    so exactly one process (a proxy worker or `lifecycle run`) moves routes at a time."""

    def __init__(self, controller: Controller, *, lock_path: Path, interval: float = 5.0):
        self.controller = controller
        self.lock_path = Path(lock_path)
        self.interval = interval
        self.stopped = threading.Event()
        self._handle: Any = None

    def try_lead(self) -> bool:
        if self._handle is not None:
            return True
        handle = open(self.lock_path, "a")  # noqa: SIM115  (held while this process leads)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        logger.info("lifecycle evaluator running in pid %d", os.getpid())
        return True

    def tick(self) -> list[RouteStatus] | None:
        if not self.try_lead():
            return None
        return self.controller.status(act=True, by="auto")

    def run(self, *, ticks: int | None = None) -> None:
        done = 0
        while not self.stopped.is_set() and (ticks is None or done < ticks):
            try:
                self.tick()
            except Exception:
                logger.exception("lifecycle evaluation failed")
            done += 1
            self.stopped.wait(self.interval)

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="lifecycle", daemon=True)
        thread.start()
        return thread


def default_folder() -> Path:
    from servicekit.web.env import data_dir

    folder = data_dir() / "proxy"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
