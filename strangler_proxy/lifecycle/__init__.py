"""Route lifecycle: monolith -> shadow -> canary steps -> extracted -> retired, gated on evidence.

policy (the route's `lifecycle:` block), stages (typed), evidence (counter snapshots), decision
(pure), store (SQLite + history), controller (moves routes through the routes file's writer),
evaluator (the loop one process runs). Built by `strangler_proxy.runtime`.
"""

from strangler_proxy.lifecycle.controller import Controller, RouteStatus
from strangler_proxy.lifecycle.decision import (
    Action,
    Verdict,
    decide,
    promotion_faults,
    rollback_faults,
)
from strangler_proxy.lifecycle.evaluator import Evaluator
from strangler_proxy.lifecycle.evidence import (
    Counter,
    Evidence,
    Snapshot,
    counter_key,
    delta,
    evidence_for,
    http_snapshot,
    local_snapshot,
    quantile_ms,
    snapshot_from_samples,
)
from strangler_proxy.lifecycle.policy import Gates, Lifecycle, LifecycleError, lifecycle_of
from strangler_proxy.lifecycle.stages import Stage, StageKind, next_stage, stage_changes, stage_of
from strangler_proxy.lifecycle.store import LifecycleStore

__all__ = [
    "Action",
    "Controller",
    "Counter",
    "Evaluator",
    "Evidence",
    "Gates",
    "Lifecycle",
    "LifecycleError",
    "LifecycleStore",
    "RouteStatus",
    "Snapshot",
    "Stage",
    "StageKind",
    "Verdict",
    "counter_key",
    "decide",
    "delta",
    "evidence_for",
    "http_snapshot",
    "lifecycle_of",
    "local_snapshot",
    "next_stage",
    "promotion_faults",
    "quantile_ms",
    "rollback_faults",
    "snapshot_from_samples",
    "stage_changes",
    "stage_of",
]
