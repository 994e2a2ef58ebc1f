"""The routes file as a live source: every worker re-reads it when it changes; edits are atomic."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from strangler_proxy.routing import RouteTable, RouteTableError, load_table, parse_table

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


def read_raw(path: str | os.PathLike[str]) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def write_raw(path: str | os.PathLike[str], data: dict[str, Any]) -> RouteTable:
    """Validate, then replace the file atomically (temp file + rename): readers never see half."""
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
    table = parse_table(text, source=os.fspath(path))
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".routes-", suffix=".yaml", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return table


ROUTE_SETTABLE = {"mode", "percent", "upstream", "fallback", "auth", "timeout", "methods"}


def route_update(path: str | os.PathLike[str], name: str, changes: dict[str, Any]) -> RouteTable:
    """Change fields of one route (None removes a field); raise KeyError for an unknown route."""
    unknown = set(changes) - ROUTE_SETTABLE
    if unknown:
        raise RouteTableError(f"fields not settable here: {', '.join(sorted(unknown))}")
    data = read_raw(path)
    for route in data.get("routes", []):
        if route.get("name") == name:
            for key, value in changes.items():
                if value is None:
                    route.pop(key, None)
                else:
                    route[key] = value
            return write_raw(path, data)
    raise KeyError(name)
