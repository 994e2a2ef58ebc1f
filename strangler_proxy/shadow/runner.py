"""Shadow traffic: the candidate called off the request path, compared, differences stored."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from servicekit.web.redaction import redact_target, redact_text
from strangler_proxy.metrics import SHADOW_COMPARISONS, SHADOW_LATENCY
from strangler_proxy.shadow.capture import captured_request
from strangler_proxy.shadow.compare import Answer, compare, excerpt
from strangler_proxy.shadow.store import DiffStore

logger = logging.getLogger("strangler_proxy.shadow")
SHADOW_HEADER = "X-Strangler-Shadow"  # "1" on every shadow request


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
        ignore_patterns: tuple[str, ...] = (),
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
                    primary,
                    candidate,
                    ignore_fields=ignore_fields,
                    ignore_headers=ignore_headers,
                    ignore_patterns=ignore_patterns,
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
            "target": redact_target(target)[:300],
            "request_id": request_id,
            "differences": [redact_text(d) for d in diffs],
        }
        if primary is not None and candidate is not None:  # side by side in the control centre
            record["primary"] = excerpt(primary)
            record["candidate"] = excerpt(candidate)
        try:
            self.store.add(record)
        except Exception:
            logger.exception("could not store a shadow difference")
