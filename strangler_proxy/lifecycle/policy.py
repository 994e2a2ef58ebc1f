"""A route's lifecycle policy: the `lifecycle:` block of the routes file, typed, with defaults."""

from __future__ import annotations

from dataclasses import dataclass

from strangler_proxy.routes.model import Route

DEFAULT_STEPS = (5.0, 25.0, 50.0, 100.0)


class LifecycleError(ValueError):
    """A lifecycle action is refused; `str()` says why."""


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


def lifecycle_of(route: Route) -> Lifecycle:
    """The route's lifecycle block with defaults (a route without one is never moved by itself)."""
    block = route.lifecycle or {}
    gates = Gates(**(block.get("gates") or {}))
    steps = tuple(float(s) for s in block.get("canary_steps", DEFAULT_STEPS))
    if list(steps) != sorted(set(steps)):
        raise LifecycleError(
            f"route {route.name!r}: lifecycle.canary_steps must rise strictly: {list(steps)}"
        )
    return Lifecycle(
        gates=gates,
        canary_steps=steps,
        auto=bool(block.get("auto", False)),
        retired=bool(block.get("retired", False)),
    )
