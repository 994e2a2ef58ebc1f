"""The route table as a live source: every worker follows it (a reader only).

With files, `current()` stats the file at most every `check_interval` s. With a shared control
store, the store pushes each new version to this process, which swaps the table and then
reports the version as applied (servicekit.web.control_store); `current()` never waits on it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from servicekit.web import cooperative
from servicekit.web.control_store import Document, Versioned
from strangler_proxy.routes.file import routes_document
from strangler_proxy.routes.load import parse_table
from strangler_proxy.routes.model import RouteTable, RouteTableError

logger = logging.getLogger("strangler_proxy.routes")


class TableSource:
    """Holds the last good table and the version it came from.

    A swap replaces one reference, so a request in flight keeps the table it started with.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        check_interval: float = 1.0,
        document: Document | None = None,
    ):
        self.path = Path(path)
        self.document = document or routes_document(path)
        self.check_interval = check_interval
        self.last_error: str | None = None
        self.loaded_at = 0.0
        self.reloads = 0
        self._lock = threading.Lock()
        self._checked = 0.0
        first = self.document.read()
        if first.text is None:
            raise FileNotFoundError(self.path)
        # a bad table at start is fatal: nothing good to keep
        self._table = parse_table(first.text, source=str(self.path))
        self.version = first.version
        self.loaded_at = time.time()
        self.document.follow(self._install)

    def current(self) -> RouteTable:
        now = time.monotonic()
        if now - self._checked >= self.check_interval and not self._lock.locked():
            # (under servicekit.web.cooperative the check runs in the pool, lock and all: the
            # loop's thread never holds this lock while it serves other requests)
            cooperative.blocking(self._check, now)
        return self._table

    def _check(self, now: float) -> None:
        if self._lock.acquire(blocking=False):
            try:
                self._checked = now
                self._maybe_reload()
            finally:
                self._lock.release()

    def reload(self) -> None:
        with self._lock:
            self._checked = time.monotonic()
            self._maybe_reload(force=True)

    def _maybe_reload(self, force: bool = False) -> None:
        latest = self.document.read()
        if latest.version == self.version and not force:
            return
        try:
            self._install(latest)
        except (RouteTableError, OSError):
            self.version = latest.version  # logged once; the next change is tried again

    def _install(self, latest: Versioned) -> None:
        """Swap in `latest`; raise (keeping the last good table) when it is refused."""
        try:
            if latest.text is None:
                raise FileNotFoundError(self.path)
            table = parse_table(latest.text, source=str(self.path))
        except (RouteTableError, OSError) as exc:
            self.last_error = str(exc)
            logger.error("routes refused, keeping the last good table: %s", exc)
            raise
        self._table = table
        self.version = latest.version
        self.last_error = None
        self.loaded_at = time.time()
        self.reloads += 1
        logger.info(
            "routes version %s applied from %s (%d routes)",
            latest.version,
            self.path,
            len(table.routes),
        )
