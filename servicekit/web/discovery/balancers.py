"""Load balancing over a service's instances, with passive ejection and active health marks.

Balancers: `round_robin`, `least_outstanding`, `p2c` (power of two choices) and
`consistent_hash` (a ring with virtual nodes, so a key keeps its instance when others change).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(eq=False)
class InstanceState:
    url: str
    outstanding: int = 0
    consecutive_failures: int = 0
    ejected_until: float = 0.0
    healthy: bool = True  # the last active health check

    def available(self, now: float) -> bool:
        return self.healthy and self.ejected_until <= now


def _hash(value: str) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big")


class InstancePool:
    """The live instances of one service, thread-safe; `pick` then `release(ok=...)` per call."""

    def __init__(
        self,
        urls: Iterable[str] = (),
        *,
        balancer: str = "round_robin",
        eject_after: int = 3,
        eject_for: float = 10.0,
        vnodes: int = 64,
    ):
        if balancer not in ("round_robin", "least_outstanding", "p2c", "consistent_hash"):
            raise ValueError(f"unknown balancer {balancer!r}")
        self.balancer = balancer
        self.eject_after = eject_after
        self.eject_for = eject_for
        self.vnodes = vnodes
        self._lock = threading.Lock()
        self._counter = itertools.count()
        self._states: list[InstanceState] = []
        self._ring: list[tuple[int, InstanceState]] = []
        self._ring_keys: list[int] = []
        self.update(urls)

    @property
    def states(self) -> list[InstanceState]:
        return list(self._states)

    def update(self, urls: Iterable[str]) -> None:
        """Adopt a new instance list (from discovery), keeping the counters of known instances."""
        urls = list(dict.fromkeys(u.rstrip("/") for u in urls))
        if urls == [s.url for s in self._states]:
            return
        with self._lock:
            known = {s.url: s for s in self._states}
            self._states = [known.get(u) or InstanceState(u) for u in urls]
            if self.balancer == "consistent_hash":
                ring = sorted(
                    (_hash(f"{s.url}#{i}"), s) for s in self._states for i in range(self.vnodes)
                )
                self._ring = ring
                self._ring_keys = [h for h, _ in ring]

    def pick(self, key: str | None = None, exclude: Iterable[InstanceState] = ()) -> InstanceState:
        """An instance for one call; raises LookupError when the service has none."""
        states = self._states
        if not states:
            raise LookupError("no instances")
        now = time.monotonic()
        if len(states) == 1 and not exclude:  # (one instance: every balancer picks it)
            chosen = states[0]
            with self._lock:
                chosen.outstanding += 1
            return chosen
        excluded = set(map(id, exclude))
        candidates = [s for s in states if s.available(now) and id(s) not in excluded]
        if not candidates:  # everything ejected: try all rather than fail (panic mode)
            candidates = [s for s in states if id(s) not in excluded] or states
        if self.balancer == "consistent_hash" and key is not None:
            chosen = self._by_hash(key, set(map(id, candidates)))
        elif self.balancer == "least_outstanding":
            start = next(self._counter)
            rotated = candidates[start % len(candidates) :] + candidates[: start % len(candidates)]
            chosen = min(rotated, key=lambda s: s.outstanding)
        elif self.balancer == "p2c" and len(candidates) > 1:
            a, b = random.sample(candidates, 2)
            chosen = a if a.outstanding <= b.outstanding else b
        else:
            chosen = candidates[next(self._counter) % len(candidates)]
        with self._lock:
            chosen.outstanding += 1
        return chosen

    def _by_hash(self, key: str, allowed: set[int]) -> InstanceState:
        keys = self._ring_keys
        start = bisect.bisect(keys, _hash(key))
        for offset in range(len(keys)):
            state = self._ring[(start + offset) % len(keys)][1]
            if id(state) in allowed:
                return state
        return self._ring[start % len(keys)][1]

    def release(self, state: InstanceState, *, ok: bool | None) -> None:
        """`ok=None` means the outcome says nothing about the instance (a client went away)."""
        with self._lock:
            state.outstanding -= 1
            if ok is True:
                state.consecutive_failures = 0
            elif ok is False:
                state.consecutive_failures += 1
                if state.consecutive_failures >= self.eject_after:
                    state.ejected_until = time.monotonic() + self.eject_for
                    state.consecutive_failures = 0

    def mark_health(self, url: str, healthy: bool) -> None:
        for state in self._states:
            if state.url == url:
                state.healthy = healthy

    def snapshot(self) -> list[dict]:
        now = time.monotonic()
        return [
            {
                "url": s.url,
                "outstanding": s.outstanding,
                "healthy": s.healthy,
                "ejected_for": round(max(0.0, s.ejected_until - now), 1),
            }
            for s in self._states
        ]
