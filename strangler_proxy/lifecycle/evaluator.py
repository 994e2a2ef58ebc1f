"""The evaluator loop: one process at a time (the leader) moves routes."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from strangler_proxy.lifecycle.controller import Controller, RouteStatus

logger = logging.getLogger("strangler_proxy.lifecycle")


def host_lock(path: Path) -> Any:
    """The open lock file when this process now holds `path`'s lock, else None (never waits).

    Held for as long as the process keeps the handle: one leader per host, released when the
    process dies (unlike servicekit.web.files.file_lock, which guards one update)."""
    handle = open(path, "a")  # noqa: SIM115  (held while this process leads)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


class LeaderLease(Protocol):
    """A lease in the shared control store (servicekit.web.control_store): `hold()` takes or
    renews it and says whether this process leads; it expires `ttl` s after the last renewal."""

    ttl: float

    def hold(self) -> bool: ...


class Evaluator:
    """Ticks `Controller.status(act=True)` every `interval` s while it holds the evaluator lock,
    so exactly one process (a proxy worker or `lifecycle run`) moves routes at a time.

    On one host the lock is held for as long as the process leads (a leader election, released
    when the process dies), unlike servicekit.web.files.file_lock, which guards one update.
    With a shared control store, `lease` elects one leader across every replica instead: it is
    renewed three times per TTL, and a dead leader's lease expires so another takes over."""

    def __init__(
        self,
        controller: Controller,
        *,
        lock_path: Path,
        interval: float = 5.0,
        lease: LeaderLease | None = None,
    ):
        self.controller = controller
        self.lock_path = Path(lock_path)
        self.interval = interval
        self.lease = lease
        self.stopped = threading.Event()
        self._handle: Any = None
        self._leading = False

    def try_lead(self) -> bool:
        if self.lease is not None:
            leading = self.lease.hold()
            if leading != self._leading:
                self._leading = leading
                logger.info(
                    "lifecycle evaluator %s in pid %d",
                    "leads" if leading else "no longer leads",
                    os.getpid(),
                )
            return leading
        if self._handle is not None:
            return True
        self._handle = host_lock(self.lock_path)
        if self._handle is None:
            return False
        logger.info("lifecycle evaluator leads in pid %d", os.getpid())
        return True

    def tick(self) -> list[RouteStatus] | None:
        if not self.try_lead():
            return None
        return self.controller.status(act=True, by="auto")

    def run(self, *, ticks: int | None = None) -> None:
        # a lease is renewed more often than it expires, evaluating every `interval` between
        step = min(self.interval, self.lease.ttl / 3) if self.lease else self.interval
        done = 0
        next_tick = 0.0
        while not self.stopped.is_set() and (ticks is None or done < ticks):
            try:
                if self.lease is None or time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.interval
                    done += 1
                    self.tick()
                else:
                    self.try_lead()
            except Exception:
                logger.exception("lifecycle evaluation failed")
            self.stopped.wait(step)

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="lifecycle", daemon=True)
        thread.start()
        return thread
