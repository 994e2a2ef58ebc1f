"""Fixed-window rate limits per client and route: in memory per process, or shared in Redis."""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

from servicekit.web import cooperative


class Limiter(Protocol):
    def hit(self, key: str, *, limit: int, per: int) -> tuple[bool, int]:
        """(allowed, seconds until the window resets)."""


class MemoryLimiter:
    """Counts in this process only: with N workers a client may get up to N times the limit."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, *, limit: int, per: int) -> tuple[bool, int]:
        now = self.clock()
        window = int(now // per)
        with self._lock:
            seen_window, count = self._counts.get(key, (window, 0))
            if seen_window != window:
                count = 0
                if len(self._counts) > 100_000:  # forget every stale window at once
                    self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
            count += 1
            self._counts[key] = (window, count)
        return count <= limit, max(1, int((window + 1) * per - now + 0.999))


class RedisLimiter:
    """One counter per key and window in Redis (INCR + EXPIRE in one round trip): all workers share it."""

    def __init__(self, client: Any, *, prefix: str = "strangler:rl:", clock=time.time):
        self.client = client
        self.prefix = prefix
        self.clock = clock

    def hit(self, key: str, *, limit: int, per: int) -> tuple[bool, int]:
        return cooperative.blocking(self._hit, key, limit, per)

    def _hit(self, key: str, limit: int, per: int) -> tuple[bool, int]:
        now = self.clock()
        window = int(now // per)
        name = f"{self.prefix}{key}:{window}"
        pipe = self.client.pipeline(transaction=False)
        pipe.incr(name)
        pipe.expire(name, per + 1)
        count = pipe.execute()[0]
        return count <= limit, max(1, int((window + 1) * per - now + 0.999))
