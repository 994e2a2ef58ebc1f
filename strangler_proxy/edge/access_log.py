"""One structured line per request the proxy answers (`STRANGLER_PROXY_ACCESS_LOG`, on by default).

The line goes through the project's logging setup (servicekit.web.logging: JSON with LOG_JSON,
secrets redacted) under the logger `strangler_proxy.access`; the path's query values that could
be secrets are masked by the one set of rules (servicekit.web.redaction.redact_target). It
replaces gunicorn's and granian's access logs, which are off, so no request is logged twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import structlog

from servicekit.web.redaction import redact_target

logger = structlog.get_logger("strangler_proxy.access")


@dataclass
class AccessEntry:
    """What the proxy learnt about one request; `log` writes it once."""

    request_id: str
    method: str
    target: str
    started: float
    route: str = "-"
    upstream: str = "-"

    def log(self, *, status: int, size: int) -> None:
        logger.info(
            "request",
            request_id=self.request_id,
            route=self.route,
            upstream=self.upstream,
            method=self.method,
            path=redact_target(self.target),
            status=status,
            duration_ms=round((time.perf_counter() - self.started) * 1000, 3),
            bytes=size,
        )


def counted(body: Iterator[bytes], entry: AccessEntry, status: int) -> Iterator[bytes]:
    """A streamed answer, logged when it ends (or breaks off) with the bytes actually sent."""
    size = 0
    try:
        for chunk in body:
            size += len(chunk)
            yield chunk
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
        entry.log(status=status, size=size)
