"""The problem+json body (RFC 9457) every error answer carries, with no Django: the DRF handler
(servicekit/web/errors.py), the proxy and gunicorn's own refusals (gunicorn_worker.py) build it
here."""

from __future__ import annotations

import json
from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:problem:strangler:"


def problem(
    *,
    status_code: int,
    code: str,
    title: str,
    detail: str,
    instance: str | None = None,
    request_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title,
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return body


def problem_response(status_code: int, reason: str, detail: str) -> bytes:
    """A whole HTTP/1.1 answer with a problem+json body that closes the connection: what a
    server writes itself for a request it refuses before any application sees it (gunicorn's
    worker, servicekit/web/gunicorn_worker.py; the proxy's uvicorn protocol)."""
    body = json.dumps(
        problem(
            status_code=status_code,
            code=reason.lower().replace(" ", "_"),
            title=reason,
            detail=detail or reason,
        )
    ).encode()
    head = (
        f"HTTP/1.1 {status_code} {reason}\r\nConnection: close\r\n"
        f"Content-Type: {PROBLEM_CONTENT_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body
