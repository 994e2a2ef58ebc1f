"""Shadow traffic: compare the candidate's answer with the primary's, off the request path."""

from __future__ import annotations

import gzip
import json
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strangler_proxy.capture import captured_request
from strangler_proxy.metrics import SHADOW_COMPARISONS, SHADOW_LATENCY

logger = logging.getLogger("strangler_proxy.shadow")
SHADOW_HEADER = "X-Strangler-Shadow"  # "1" on every shadow request
DRY_RUN_HEADER = "X-Strangler-Dry-Run"  # "1" on shadowed writes: the candidate must not commit


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def _decoded(answer: Answer) -> bytes:
    encoding = answer.headers.get("content-encoding", "").lower()
    try:
        if encoding == "gzip":
            return gzip.decompress(answer.body)
        if encoding == "deflate":
            return zlib.decompress(answer.body)
    except (OSError, zlib.error):
        return answer.body
    return answer.body


def _strip(value: Any, ignore: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v, ignore) for k, v in value.items() if k not in ignore}
    if isinstance(value, list):
        return [_strip(v, ignore) for v in value]
    return value


def _json_diffs(a: Any, b: Any, path: str, out: list[str], limit: int = 10) -> None:
    if len(out) >= limit:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            sub = f"{path}.{key}" if path else key
            if key not in b:
                out.append(f"{sub}: missing in candidate")
            elif key not in a:
                out.append(f"{sub}: only in candidate")
            else:
                _json_diffs(a[key], b[key], sub, out, limit)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path or '(root)'}: {len(a)} items vs {len(b)}")
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            _json_diffs(x, y, f"{path}[{index}]", out, limit)
    elif a != b:
        out.append(f"{path or '(root)'}: {json.dumps(a)[:80]} != {json.dumps(b)[:80]}")


def compare(
    primary: Answer,
    candidate: Answer,
    *,
    ignore_fields: tuple[str, ...] = (),
    ignore_headers: tuple[str, ...] = (),
) -> list[str]:
    """Differences a client could notice: status, Content-Type, body (JSON compared as data)."""
    diffs: list[str] = []
    if primary.status != candidate.status:
        diffs.append(f"status: {primary.status} != {candidate.status}")
    if "content-type" not in ignore_headers:
        a, b = primary.headers.get("content-type"), candidate.headers.get("content-type")
        if a != b:
            diffs.append(f"header content-type: {a!r} != {b!r}")
    body_a, body_b = _decoded(primary), _decoded(candidate)
    if body_a == body_b:
        return diffs
    try:
        data_a, data_b = json.loads(body_a), json.loads(body_b)
    except ValueError:
        diffs.append(f"body: {len(body_a)} bytes != {len(body_b)} bytes")
        return diffs
    ignore = frozenset(ignore_fields)
    _json_diffs(_strip(data_a, ignore), _strip(data_b, ignore), "", diffs)
    return diffs


def _excerpt(answer: Answer, limit: int = 2000) -> dict[str, Any]:
    """Status and the start of the body, for reading two answers side by side."""
    text = _decoded(answer)[:limit].decode("utf-8", errors="replace")
    return {
        "status": answer.status,
        "content_type": answer.headers.get("content-type"),
        "body": text,
    }


class DiffStore:
    """The most recent differences, shared by all workers: a Redis list, else a JSON-lines file."""

    def __init__(
        self,
        *,
        path: Path,
        redis_client: Any | None = None,
        keep: int = 200,
        key: str = "strangler:shadow:diffs",
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
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
            if self.path.stat().st_size > self.keep * 2560:
                self._trim()

    def _trim(self) -> None:
        lines = self.path.read_text(encoding="utf-8").splitlines()[-self.keep :]
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

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


class ShadowRunner:
    """Runs shadow calls on a small thread pool; when it is busy the comparison is dropped."""

    def __init__(
        self,
        *,
        store: DiffStore,
        workers: int = 4,
        max_pending: int = 64,
        capture: DiffStore | None = None,
    ):
        self.store = store
        self.capture = capture
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shadow")
        self._slots = threading.BoundedSemaphore(max_pending)

    def submit(
        self,
        *,
        route: str,
        method: str,
        target: str,
        request_id: str,
        primary: Answer,
        call: Callable[[], Answer],
        ignore_fields: tuple[str, ...],
        ignore_headers: tuple[str, ...],
        request_headers: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
    ) -> bool:
        """`request_headers` and `body` are only kept, secrets stripped, when capture is on."""
        if not self._slots.acquire(blocking=False):
            SHADOW_COMPARISONS.labels(route, "dropped").inc()
            return False

        def run() -> None:
            try:
                self._capture(route, method, target, request_headers, body)
                started = time.perf_counter()
                try:
                    candidate = call()
                except Exception as exc:
                    SHADOW_COMPARISONS.labels(route, "error").inc()
                    self._record(route, method, target, request_id, [f"candidate failed: {exc}"])
                    return
                SHADOW_LATENCY.labels(route).observe(time.perf_counter() - started)
                diffs = compare(
                    primary, candidate, ignore_fields=ignore_fields, ignore_headers=ignore_headers
                )
                # a candidate 5xx where the primary did not fail is an error, not just a mismatch
                failed = candidate.status >= 500 and primary.status < 500
                result = "error" if failed else ("mismatch" if diffs else "match")
                SHADOW_COMPARISONS.labels(route, result).inc()
                if diffs:
                    self._record(route, method, target, request_id, diffs, primary, candidate)
            finally:
                self._slots.release()

        self.executor.submit(run)
        return True

    def _capture(self, route, method, target, headers, body) -> None:
        if self.capture is None or headers is None:
            return
        try:
            self.capture.add(
                captured_request(
                    route=route, method=method, target=target, headers=headers, body=body
                )
            )
        except Exception:
            logger.exception("could not capture a shadowed request")

    def _record(
        self,
        route: str,
        method: str,
        target: str,
        request_id: str,
        diffs: list[str],
        primary: Answer | None = None,
        candidate: Answer | None = None,
    ) -> None:
        record = {
            "at": time.time(),
            "route": route,
            "method": method,
            "target": target[:300],
            "request_id": request_id,
            "differences": diffs,
        }
        if primary is not None and candidate is not None:  # side by side in the control centre
            record["primary"] = _excerpt(primary)
            record["candidate"] = _excerpt(candidate)
        try:
            self.store.add(record)
        except Exception:
            logger.exception("could not store a shadow difference")
