"""Correlation ids: take `X-Request-ID` or make one, expose it on the request and echo it back."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
_VALID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def request_id_from(value: str | None) -> str:
    """The caller's id when it is safe to log and forward, else a fresh one."""
    if value and _VALID.match(value):
        return value
    return new_request_id()


def new_request_id() -> str:
    """A random (version 4) UUID as 32 hex digits, as `uuid.uuid4().hex` makes it, in a third of
    the time: no UUID object, and the operating system's random bytes read for 256 ids at once
    (one getrandom call each, where uuid4 makes one per id: the proxy makes one per request)."""
    entropy = _entropy
    at = entropy.at
    if at >= _BATCH:
        entropy.pool = os.urandom(_BATCH)
        at = 0
    entropy.at = at + 16
    raw = bytearray(entropy.pool[at : at + 16])
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
    return raw.hex()


_BATCH = 4096  # bytes of randomness read at once: 256 ids


class _Entropy(threading.local):
    """Each thread's unread random bytes (`pool[at:]`)."""

    def __init__(self) -> None:
        self.pool = b""
        self.at = _BATCH


_entropy = _Entropy()


def _forget_entropy() -> None:
    _entropy.pool, _entropy.at = b"", _BATCH


# a forked worker must not repeat the ids its parent (or a sibling) makes from the same bytes
os.register_at_fork(after_in_child=_forget_entropy)


class RequestIdMiddleware:
    """Put before django-structlog's middleware so its logs carry the same id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request.META.get(META_KEY))
        request.META[META_KEY] = request_id
        request.request_id = request_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        response[HEADER] = request_id
        return response
