"""`Deadline(loop, expired)`: a deadline set again and again on one event loop (each request on a
kept-alive connection), kept by one timer at a time instead of a timer per setting.

`loop.call_later(...)` then `cancel()` for every request makes and frees a timer each time
(under uvloop a libuv timer started, stopped and closed on the next turn of the loop). Here
`start(seconds)` notes when the deadline falls and arms the loop's timer only when none is armed
for that moment or sooner; `stop()` only forgets the deadline. A timer that fires before the
deadline in force (it was moved on meanwhile) arms itself again for what is left; `expired()`
is called, on the loop, once a started deadline passes without a `stop()`. `close()` disarms it
for good (the timer holds the callback, and what the callback holds, until it fires).

Only the loop's thread may use a `Deadline`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# libuv's timers count whole milliseconds: a timer may fire up to this much before its moment.
_EARLY = 0.001


class Deadline:
    __slots__ = ("_due", "_expired", "_loop", "_timer", "_timer_at")

    def __init__(self, loop: asyncio.AbstractEventLoop, expired: Callable[[], None]):
        self._loop = loop
        self._expired = expired
        self._due: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    @property
    def pending(self) -> bool:
        """Whether a deadline is started and not yet stopped or expired."""
        return self._due is not None

    def start(self, seconds: float) -> None:
        """The deadline is now `seconds` from now (replacing any started before)."""
        due = self._loop.time() + seconds
        self._due = due
        if self._timer is not None:
            if self._timer_at <= due:
                return  # it fires first, and arms itself again for the rest
            self._timer.cancel()
        self._arm(due)

    def stop(self) -> None:
        self._due = None

    def close(self) -> None:
        self._due = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, due: float) -> None:
        self._timer_at = due
        self._timer = self._loop.call_at(due, self._fire)

    def _fire(self) -> None:
        self._timer = None
        due = self._due
        if due is None:
            return
        if self._loop.time() + _EARLY >= due:
            self._due = None
            self._expired()
        else:
            self._arm(due)
