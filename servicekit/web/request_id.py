"""Correlation ids: take `X-Request-ID` or make one, expose it on the request and echo it back."""

from __future__ import annotations

import os
import re
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
    """A random (version 4) UUID as 32 hex digits: `uuid.uuid4().hex`, made in a third of the
    time (no UUID object; the proxy makes one per request)."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
    return raw.hex()


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
