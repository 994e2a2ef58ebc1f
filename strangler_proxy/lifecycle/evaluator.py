"""The evaluator loop: one process at a time (the holder of the evaluator lock) moves routes."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import Any

from strangler_proxy.lifecycle.controller import Controller, RouteStatus

logger = logging.getLogger("strangler_proxy.lifecycle")


class Evaluator:
    """Ticks `Controller.status(act=True)` every `interval` s while it holds the evaluator lock,
    so exactly one process (a proxy worker or `lifecycle run`) moves routes at a time.

    The lock is held for as long as the process leads (a leader election, released when the
    process dies), unlike servicekit.web.files.file_lock, which guards one update."""

    def __init__(self, controller: Controller, *, lock_path: Path, interval: float = 5.0):
        self.controller = controller
        self.lock_path = Path(lock_path)
        self.interval = interval
        self.stopped = threading.Event()
        self._handle: Any = None

    def try_lead(self) -> bool:
        if self._handle is not None:
            return True
        handle = open(self.lock_path, "a")  # noqa: SIM115  (held while this process leads)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        logger.info("lifecycle evaluator running in pid %d", os.getpid())
        return True

    def tick(self) -> list[RouteStatus] | None:
        if not self.try_lead():
            return None
        return self.controller.status(act=True, by="auto")

    def run(self, *, ticks: int | None = None) -> None:
        done = 0
        while not self.stopped.is_set() and (ticks is None or done < ticks):
            try:
                self.tick()
            except Exception:
                logger.exception("lifecycle evaluation failed")
            done += 1
            self.stopped.wait(self.interval)

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="lifecycle", daemon=True)
        thread.start()
        return thread
