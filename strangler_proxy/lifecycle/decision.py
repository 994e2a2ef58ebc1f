"""The decision: rollback first, then promotion when every gate holds, else hold (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from strangler_proxy.lifecycle.evidence import Evidence
from strangler_proxy.lifecycle.policy import Gates, Lifecycle
from strangler_proxy.lifecycle.stages import MONOLITH, RETIRED, SHADOW, Stage, next_stage


class Action(StrEnum):
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    HOLD = "hold"


@dataclass(frozen=True)
class Verdict:
    action: Action
    to_stage: Stage | None
    reasons: tuple[str, ...] = ()
    promotable: bool = False


def _over(value: float | None, bound: float) -> bool:
    return value is not None and value > bound


def promotion_faults(stage: Stage, evidence: Evidence, gates: Gates) -> list[str]:
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


def rollback_faults(stage: Stage, evidence: Evidence, gates: Gates) -> list[str]:
    """Why the candidate must be taken out of traffic now; empty when it is healthy enough."""
    if stage == MONOLITH or evidence.requests < gates.rollback_min_requests:
        return []
    faults = []
    if _over(evidence.error_rate, gates.max_error_rate):
        faults.append(f"error rate {evidence.error_rate:.4f} > {gates.max_error_rate}")
    if _over(evidence.mismatch_rate, gates.max_mismatch_rate):
        faults.append(f"mismatch rate {evidence.mismatch_rate:.4f} > {gates.max_mismatch_rate}")
    return faults


def decide(stage: Stage, lifecycle: Lifecycle, evidence: Evidence) -> Verdict:
    """Rollback first; then promotion when `auto` and every gate holds; else hold, with reasons."""
    gates = lifecycle.gates
    bad = rollback_faults(stage, evidence, gates)
    if bad and stage == RETIRED:
        return Verdict(
            Action.HOLD, None, ("ALERT: candidate failing but the route is retired", *bad)
        )
    if bad:
        return Verdict(Action.ROLLBACK, MONOLITH, tuple(bad))
    target = next_stage(stage, lifecycle.canary_steps)
    faults = promotion_faults(stage, evidence, gates)
    promotable = target is not None and not faults
    if stage == MONOLITH:
        return Verdict(Action.HOLD, target, ("start with `lifecycle promote`",), promotable)
    if target == RETIRED:
        return Verdict(Action.HOLD, target, ("retiring is a human decision", *faults), promotable)
    if not lifecycle.auto:
        return Verdict(Action.HOLD, target, ("auto is off", *faults), promotable)
    if faults:
        return Verdict(Action.HOLD, target, tuple(faults), False)
    return Verdict(Action.PROMOTE, target, (), True)
