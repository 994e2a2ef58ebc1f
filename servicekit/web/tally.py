"""Metric updates of the hot path, applied once per turn of the event loop.

In multiprocess mode (PROMETHEUS_MULTIPROC_DIR) each `inc()` of prometheus_client takes a lock,
makes a getpid system call (to notice a fork) and writes into the process's mmap'd file; a
histogram's `observe()` does it twice. The proxy's uvicorn worker answers several requests per
turn of its loop (servicekit.web.cooperative runs them on the loop's thread): their updates are
summed here and applied by one callback at the end of the turn: a counter's increments as one,
a histogram's observations as one sum and one count per bucket. What a scrape reads is at most
one turn of the loop behind (microseconds under load). Outside such a loop (a thread of a pool,
a command, a test) each update is applied at once.

`inc(child, amount)` and `observe(child, value)` take a metric's labelled child
(`metric.labels(...)`).
"""

from __future__ import annotations

import asyncio
import threading
from bisect import bisect_left
from collections import Counter as Counts
from typing import Any

from servicekit.web import cooperative


class _Pending(threading.local):
    """What this thread's loop has yet to apply (each thread that runs a loop has its own)."""

    def __init__(self) -> None:
        self.counts: dict[Any, float] = {}  # a counter's child -> its increments summed
        self.observed: dict[Any, list[float]] = {}  # a histogram's child -> its observations
        self.due = False  # a flush is scheduled on this thread's loop


_pending = _Pending()


def inc(child: Any, amount: float = 1.0) -> None:
    """`child.inc(amount)`, at the end of this turn of the loop when one runs here."""
    if not cooperative.active():
        child.inc(amount)
        return
    pending = _pending
    counts = pending.counts
    counts[child] = counts.get(child, 0.0) + amount
    if not pending.due:
        _schedule(pending)


def observe(child: Any, value: float) -> None:
    """`child.observe(value)` (a histogram's), at the end of this turn of the loop when one
    runs here."""
    if not cooperative.active():
        child.observe(value)
        return
    pending = _pending
    seen = pending.observed.get(child)
    if seen is None:
        pending.observed[child] = [value]
    else:
        seen.append(value)
    if not pending.due:
        _schedule(pending)


def _schedule(pending: _Pending) -> None:
    pending.due = True
    asyncio.get_running_loop().call_soon(flush)


def flush() -> None:
    """Apply what this thread holds (the loop's callback; a test may call it)."""
    pending = _pending
    pending.due = False
    counts, pending.counts = pending.counts, {}
    observed, pending.observed = pending.observed, {}
    for child, amount in counts.items():
        child.inc(amount)
    for child, values in observed.items():
        observe_all(child, values)


def observe_all(histogram: Any, values: list[float]) -> None:
    """What `histogram.observe(v)` for each of `values` records, in one update of its sum and
    one of each bucket met. A histogram child of another shape (not prometheus_client's
    `Histogram`, whose buckets and bounds this reads) observes them one by one."""
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None:
        for value in values:
            histogram.observe(value)
        return
    total.inc(sum(values))
    # observe() counts a value in the first bucket whose bound is not below it
    for index, count in Counts(bisect_left(bounds, value) for value in values).items():
        buckets[index].inc(count)
