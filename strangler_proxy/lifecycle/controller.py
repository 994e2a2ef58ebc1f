"""The controller: reads evidence, decides, and moves routes through the routes file's writer."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from servicekit.web.control_store import Document
from strangler_proxy.lifecycle.decision import Action, decide, promotion_faults
from strangler_proxy.lifecycle.evidence import Evidence, Snapshot, delta, evidence_for
from strangler_proxy.lifecycle.policy import Gates, Lifecycle, LifecycleError, lifecycle_of
from strangler_proxy.lifecycle.stages import (
    MONOLITH,
    RETIRED,
    Stage,
    next_stage,
    stage_changes,
    stage_of,
)
from strangler_proxy.lifecycle.store import LifecycleStore
from strangler_proxy.routes.file import RouteChange, load_live_table, route_change
from strangler_proxy.routes.model import Route, RouteTable, RouteTableError

logger = logging.getLogger("strangler_proxy.lifecycle")


@dataclass
class RouteStatus:
    """One route as operators see it (the JSON of `lifecycle status` and the admin API)."""

    route: str
    stage: str
    next_stage: str | None
    auto: bool
    gates: dict[str, Any]
    evidence: dict[str, Any]
    verdict: str
    reasons: list[str] = field(default_factory=list)
    promotable: bool = False


@dataclass(frozen=True)
class _Move:
    """A move about to be written: from `stage` (checked again under the lock) to `to_stage`."""

    name: str
    stage: Stage
    to_stage: Stage
    action: str
    evidence: Evidence
    gates: Gates
    reasons: list[str]
    snap: Snapshot
    now: float
    forced: bool = False


class Controller:
    """Reads evidence, decides and moves routes; built by `strangler_proxy.runtime`."""

    def __init__(
        self,
        *,
        routes_file: str | os.PathLike[str] | Document,
        store: LifecycleStore,
        read_snapshot: Callable[[], Snapshot],
        clock: Callable[[], float] = time.time,
    ):
        self.routes_file = routes_file
        self.store = store
        self.read_snapshot = read_snapshot
        self.clock = clock

    def _routes(self) -> tuple[RouteTable, list[Route]]:
        table = load_live_table(self.routes_file)
        return table, [r for r in table.routes if r.upstream]

    def _stage_start(self, route: Route, stage: Stage, now: float, snap: Snapshot):
        known = self.store.stage(route.name)
        if known is None or known[0] != str(stage):  # moved by us, an operator or a deploy
            self.store.set_stage(route.name, str(stage), now, snap)
            return now, snap
        return known[1], known[2]

    def _evidence(
        self, route: Route, stage: Stage, lc: Lifecycle, default: str, now: float, snap: Snapshot
    ) -> Evidence:
        since, base = self._stage_start(route, stage, now, snap)
        window_start = now - lc.gates.window_seconds
        measured_from = since
        older = self.store.snapshot_before(window_start)
        if older is not None and older[0] > since:
            measured_from, base = older
        return evidence_for(
            delta(snap, base),
            route=route.name,
            stage=stage,
            candidate=route.upstream or default,
            primary=default,
            window_seconds=lc.gates.window_seconds,
            since=since,
            measured_from=measured_from,
        )

    def _snapshot(self) -> tuple[Snapshot, float]:
        now = self.clock()
        snap = self.read_snapshot()
        self.store.add_snapshot(now, snap)
        return snap, now

    def status(self, *, act: bool = False, by: str = "evaluator") -> list[RouteStatus]:
        """Every route with a candidate: stage, evidence and verdict; with `act`, apply verdicts."""
        snap, now = self._snapshot()
        table, routes = self._routes()
        out = []
        for route in routes:
            lc = lifecycle_of(route)
            stage = stage_of(route)
            evidence = self._evidence(route, stage, lc, table.default_upstream, now, snap)
            verdict = decide(stage, lc, evidence)
            target = next_stage(stage, lc.canary_steps)
            status = RouteStatus(
                route=route.name,
                stage=str(stage),
                next_stage=str(target) if target else None,
                auto=lc.auto,
                gates=asdict(lc.gates),
                evidence=evidence.as_dict(),
                verdict=verdict.action.value,
                reasons=list(verdict.reasons),
                promotable=verdict.promotable,
            )
            moving = verdict.action in (Action.PROMOTE, Action.ROLLBACK)
            if act and moving and verdict.to_stage:
                move = _Move(
                    route.name,
                    stage,
                    verdict.to_stage,
                    verdict.action.value,
                    evidence,
                    lc.gates,
                    list(verdict.reasons),
                    snap,
                    now,
                )
                try:
                    self._move(move, by=by)
                    status.verdict = f"{verdict.action.value}d"
                except LifecycleError as exc:
                    logger.warning("lifecycle: %s not moved: %s", route.name, exc)
            out.append(status)
        return out

    def _move(self, move: _Move, *, by: str) -> dict[str, Any]:
        def plan(route: Route, table: RouteTable) -> dict[str, Any]:
            if stage_of(route) != move.stage:  # checked again under the file's lock
                raise LifecycleError(f"{move.name} changed meanwhile (now {stage_of(route)})")
            return stage_changes(
                move.to_stage, route=route, default_upstream=table.default_upstream
            )

        change = RouteChange(route=move.name, retired=move.to_stage == RETIRED, plan=plan)
        try:
            route_change(self.routes_file, change)
        except KeyError:
            raise LifecycleError(f"no route named {move.name!r}") from None
        except RouteTableError as exc:  # e.g. a sensitive route is never shadowed
            raise LifecycleError(f"{move.name} cannot move to {move.to_stage}: {exc}") from None
        self.store.set_stage(move.name, str(move.to_stage), move.now, move.snap)
        entry = self._entry(move, by=by)
        self.store.record(entry)
        logger.warning(
            "lifecycle: %s %s %s -> %s (%s)", move.name, move.action, move.stage, move.to_stage, by
        )
        return entry

    @staticmethod
    def _entry(move: _Move, *, by: str) -> dict[str, Any]:
        """The history line of a move or a refusal, with its evidence and gates."""
        return {
            "at": move.now,
            "route": move.name,
            "action": move.action,
            "from": str(move.stage),
            "to": str(move.to_stage),
            "by": by,
            "forced": move.forced,
            "reasons": move.reasons,
            "gates": asdict(move.gates),
            "evidence": move.evidence.as_dict(),
        }

    def _one(self, name: str) -> tuple[Stage, Lifecycle, Evidence, Snapshot, float]:
        snap, now = self._snapshot()
        table, routes = self._routes()
        route = next((r for r in routes if r.name == name), None)
        if route is None:
            raise LifecycleError(f"no route named {name!r} with an upstream (candidate)")
        lc = lifecycle_of(route)
        stage = stage_of(route)
        evidence = self._evidence(route, stage, lc, table.default_upstream, now, snap)
        return stage, lc, evidence, snap, now

    def promote(self, name: str, *, by: str, force: bool = False) -> dict[str, Any]:
        """One step forward when the gates hold (or `force`); a refusal is recorded and raised."""
        stage, lc, evidence, snap, now = self._one(name)
        target = next_stage(stage, lc.canary_steps)
        if target is None:
            raise LifecycleError(f"{name} is {stage}: there is no further stage")
        faults = promotion_faults(stage, evidence, lc.gates)
        move = _Move(name, stage, target, "promote", evidence, lc.gates, faults, snap, now)
        if faults and not force:
            self.store.record(self._entry(replace(move, action="refused"), by=by))
            raise LifecycleError(f"promotion of {name} to {target} refused: " + "; ".join(faults))
        return self._move(replace(move, forced=bool(faults)), by=by)

    def rollback(self, name: str, *, by: str, reason: str = "operator") -> dict[str, Any]:
        """All traffic back to the monolith; refused once the route is retired."""
        stage, lc, evidence, snap, now = self._one(name)
        if stage == RETIRED:
            raise LifecycleError(f"{name} is retired: the monolith no longer serves it")
        if stage == MONOLITH:
            raise LifecycleError(f"{name} is already on the monolith")
        move = _Move(name, stage, MONOLITH, "rollback", evidence, lc.gates, [reason], snap, now)
        return self._move(move, by=by)
