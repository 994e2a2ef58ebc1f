"""The routes file as a live source: every worker re-reads it when it changes (a reader only)."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from strangler_proxy.routes.load import load_table
from strangler_proxy.routes.model import RouteTable, RouteTableError

logger = logging.getLogger("strangler_proxy.routes")


class TableSource:
    """Holds the last good table; `current()` stats the file at most every `check_interval` s.

    A swap replaces one reference, so a request in flight keeps the table it started with.
    """

    def __init__(self, path: str | os.PathLike[str], *, check_interval: float = 1.0):
        self.path = Path(path)
        self.check_interval = check_interval
        self.last_error: str | None = None
        self.loaded_at = 0.0
        self.reloads = 0
        self._lock = threading.Lock()
        self._checked = 0.0
        self._stamp = self._stat()
        self._table = load_table(self.path)  # a bad file at start is fatal: nothing good to keep
        self.loaded_at = time.time()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> RouteTable:
        now = time.monotonic()
        if now - self._checked >= self.check_interval and self._lock.acquire(blocking=False):
            try:
                self._checked = now
                self._maybe_reload()
            finally:
                self._lock.release()
        return self._table

    def reload(self) -> None:
        with self._lock:
            self._checked = time.monotonic()
            self._maybe_reload(force=True)

    def _maybe_reload(self, force: bool = False) -> None:
        stamp = self._stat()
        if stamp == self._stamp and not force:
            return
        self._stamp = stamp
        try:
            table = load_table(self.path)
        except (RouteTableError, OSError) as exc:
            self.last_error = str(exc)
            logger.error("routes file refused, keeping the last good table: %s", exc)
            return
        self._table = table
        self.last_error = None
        self.loaded_at = time.time()
        self.reloads += 1
        logger.info("routes reloaded from %s (%d routes)", self.path, len(table.routes))
