"""Lifecycle state: snapshots and stage starts in SQLite, and an append-only JSON-lines history."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from servicekit.web.files import file_lock
from strangler_proxy.lifecycle.evidence import Snapshot


class LifecycleStore:
    """SQLite (snapshots, stage starts) and `lifecycle.jsonl` (every move), in one folder.

    Stages are stored in their text form (`canary:25`, see `Stage`)."""

    def __init__(self, folder: Path, *, keep_seconds: float = 3600.0):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.history_path = self.folder / "lifecycle.jsonl"
        self.keep_seconds = keep_seconds
        self._db_path = self.folder / "lifecycle.sqlite3"
        with self._db() as db:
            db.execute("CREATE TABLE IF NOT EXISTS snapshots (at REAL, data TEXT)")
            db.execute("CREATE INDEX IF NOT EXISTS snapshots_at ON snapshots (at)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS stages "
                "(route TEXT PRIMARY KEY, stage TEXT, since REAL, base TEXT)"
            )

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self._db_path, timeout=10)
        try:
            with db:
                yield db
        finally:
            db.close()

    def add_snapshot(self, at: float, snap: Snapshot) -> None:
        with self._db() as db:
            db.execute("INSERT INTO snapshots VALUES (?, ?)", (at, json.dumps(snap)))
            db.execute("DELETE FROM snapshots WHERE at < ?", (at - self.keep_seconds,))

    def snapshot_before(self, at: float) -> tuple[float, Snapshot] | None:
        with self._db() as db:
            row = db.execute(
                "SELECT at, data FROM snapshots WHERE at <= ? ORDER BY at DESC LIMIT 1", (at,)
            ).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def stage(self, route: str) -> tuple[str, float, Snapshot] | None:
        with self._db() as db:
            row = db.execute(
                "SELECT stage, since, base FROM stages WHERE route = ?", (route,)
            ).fetchone()
        return (row[0], row[1], json.loads(row[2])) if row else None

    def set_stage(self, route: str, stage: str, since: float, base: Snapshot) -> None:
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO stages VALUES (?, ?, ?, ?)",
                (route, stage, since, json.dumps(base)),
            )

    def record(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":"), sort_keys=True)
        with file_lock(self.history_path), open(self.history_path, "a", encoding="utf-8") as out:
            out.write(line + "\n")

    def history(self, *, route: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        try:
            lines = self.history_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in reversed(lines):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if route is None or entry.get("route") == route:
                out.append(entry)
                if len(out) >= limit:
                    break
        return out
