"""A recorder of what the shop's clients saw, by phase, for the migration tests.

The client itself is application code (`loadtest/shop_client.py`, which `make load`'s Locust
users drive too); re-exported here for the tests. `Recorder.table()` prints requests, visible
errors and p50/p99 latency per phase.
"""

from __future__ import annotations

import statistics
import threading
from dataclasses import dataclass, field

from loadtest.shop_client import Answer, ClientGaveUp, ShopClient, unique_name

__all__ = ["Answer", "ClientGaveUp", "Recorder", "ShopClient", "unique_name"]

# Calls that hash a password (Django's PBKDF2, hundreds of ms of CPU each): the table shows the
# p99 without them too, so a phase's slow answers can be told apart from slow logins.
PASSWORD_HASHING = {"POST /api/v1/auth/token", "POST /api/v1/users/"}


@dataclass
class Recorder:
    """Every answer any client got, by phase (set by the test as the migration moves on)."""

    phase: str = "start"
    answers: list[Answer] = field(default_factory=list)
    phases: list[str] = field(default_factory=lambda: ["start"])
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, phase: str) -> None:
        with self._lock:
            self.phase = phase
            if phase not in self.phases:
                self.phases.append(phase)

    def add(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    def visible(self) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.visible]

    def table(self) -> str:
        with self._lock:
            answers = list(self.answers)
        rows = [
            ("phase", "requests", "errors", "waits", "p50 ms", "p99 ms", "max ms", "p99 no-pw ms")
        ]
        for phase in self.phases:
            mine = [a for a in answers if a.phase == phase]
            rows.append(_row(phase, mine))
        rows.append(_row("all", answers))
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(
                str(v).ljust(w) if i == 0 else str(v).rjust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        ]
        errors = [a for a in answers if a.visible]
        if errors:
            lines.append("")
            lines.append("client-visible errors (first 30):")
            lines += [
                f"  [{a.phase}] {a.client}: {a.what} -> {a.status} {a.note}" for a in errors[:30]
            ]
        return "\n".join(lines)

    def slowest(self, phase: str, count: int = 10) -> list[Answer]:
        with self._lock:
            mine = [a for a in self.answers if a.phase == phase]
        return sorted(mine, key=lambda a: a.seconds, reverse=True)[:count]


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def _row(phase: str, answers: list[Answer]) -> tuple:
    # A wait asked for (503/429 with Retry-After, honoured) is not an error, but counted apart.
    waits = sum(1 for a in answers if a.status in (429, 503) and not a.visible)
    times = [a.seconds * 1000 for a in answers]
    others = [a.seconds * 1000 for a in answers if a.what not in PASSWORD_HASHING]
    return (
        phase,
        len(answers),
        sum(1 for a in answers if a.visible),
        waits,
        f"{_percentile(times, 0.50):.0f}",
        f"{_percentile(times, 0.99):.0f}",
        f"{max(times, default=0):.0f}",
        f"{_percentile(others, 0.99):.0f}",
    )
