"""The one backoff: exponential with full jitter, used by every retry loop of ours."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait before retry number `attempt` (1 for the first retry).

    Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): uniform in
    [0, min(cap, base * 2**(attempt - 1))], so a herd of clients spreads out.
    """
    return random.uniform(0, min(cap, base * 2 ** max(attempt - 1, 0)))
