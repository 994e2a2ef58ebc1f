"""The most recent records of shadow traffic (differences, captured requests), shared by workers."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from servicekit.web.files import append_line, atomic_write

# request targets and answers of real users, redacted but still private: owner only
FILE_MODE = 0o600


class DiffStore:
    """The most recent differences, shared by all workers: a Redis list, else a JSON-lines file."""

    def __init__(
        self,
        *,
        path: Path,
        redis_client: Any | None = None,
        keep: int = 200,
        key: str = "strangler:shadow:diffs",  # under the deployment's prefix: see runtime
    ):
        self.path = path
        self.redis = redis_client
        self.keep = keep
        self.key = key
        self._lock = threading.Lock()

    def add(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"))
        if self.redis is not None:
            pipe = self.redis.pipeline(transaction=False)
            pipe.lpush(self.key, line)
            pipe.ltrim(self.key, 0, self.keep - 1)
            pipe.execute()
            return
        with self._lock:
            append_line(self.path, line, mode=FILE_MODE)
            if self.path.stat().st_size > self.keep * 2560:
                self._trim()

    def _trim(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()[-self.keep :]
        atomic_write(self.path, "\n".join(lines) + "\n", mode=FILE_MODE)

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        if self.redis is not None:
            return [json.loads(x) for x in self.redis.lrange(self.key, 0, limit - 1)]
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in reversed(lines[-limit:]):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def capture_store(
    *, path: Path, redis_client: Any | None = None, redis_prefix: str = "strangler"
) -> DiffStore:
    """The last 1000 captured requests: a Redis list shared by workers, else a JSON-lines file."""
    return DiffStore(
        path=path, redis_client=redis_client, keep=1000, key=f"{redis_prefix}:shadow:capture"
    )
