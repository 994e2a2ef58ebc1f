"""The stage machine: monolith -> shadow -> canary steps -> extracted -> retired (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from strangler_proxy.routes.model import Route


class StageKind(StrEnum):
    MONOLITH = "monolith"
    SHADOW = "shadow"
    CANARY = "canary"
    EXTRACTED = "extracted"
    RETIRED = "retired"


@dataclass(frozen=True)
class Stage:
    """Where a route is; `percent` only for canary. `str()` is the stored and shown form
    (`canary:25`), `Stage.parse` reads it back."""

    kind: StageKind
    percent: float | None = None

    def __str__(self) -> str:
        if self.kind is StageKind.CANARY:
            return f"canary:{_num(self.percent or 0.0)}"
        return self.kind.value

    @classmethod
    def canary(cls, percent: float) -> Stage:
        return cls(StageKind.CANARY, float(percent))

    @classmethod
    def parse(cls, text: str) -> Stage:
        kind, _, percent = text.partition(":")
        if kind == StageKind.CANARY:
            return cls.canary(float(percent))
        return cls(StageKind(kind))


MONOLITH = Stage(StageKind.MONOLITH)
SHADOW = Stage(StageKind.SHADOW)
EXTRACTED = Stage(StageKind.EXTRACTED)
RETIRED = Stage(StageKind.RETIRED)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def stage_of(route: Route) -> Stage:
    if route.mode == StageKind.CANARY:
        return Stage.canary(route.percent)
    if route.mode == StageKind.EXTRACTED and (route.lifecycle or {}).get("retired"):
        return RETIRED
    return Stage(StageKind(route.mode))


def next_stage(stage: Stage, steps: tuple[float, ...]) -> Stage | None:
    """The stage a promotion leads to; None after `retired`."""
    if stage == MONOLITH:
        return SHADOW
    if stage == SHADOW:
        return Stage.canary(steps[0]) if steps else EXTRACTED
    if stage.kind is StageKind.CANARY:
        higher = [s for s in steps if s > (stage.percent or 0.0)]
        return Stage.canary(higher[0]) if higher else EXTRACTED
    if stage == EXTRACTED:
        return RETIRED
    return None


def stage_changes(stage: Stage, *, route: Route, default_upstream: str) -> dict[str, Any]:
    """The route fields a move to `stage` writes (None removes a field)."""
    if stage.kind is StageKind.CANARY:
        return {"mode": "canary", "percent": stage.percent}
    mode = StageKind.EXTRACTED if stage == RETIRED else stage.kind
    changes: dict[str, Any] = {"mode": mode.value, "percent": None}
    if stage == RETIRED and route.fallback == default_upstream:
        changes["fallback"] = None  # the monolith's code for this route is gone
    return changes
