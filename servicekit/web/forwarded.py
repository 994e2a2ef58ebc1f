"""Take the host our own proxy saw from `X-Forwarded-Host`, even after a chain of proxies.

The strangler proxy overwrites `X-Forwarded-Host` with one value (strangler_proxy/edge/headers.py),
but another proxy in front of a service may append, so the header can read `a, b`. Django's
`get_host()` would reject that whole string (400). The last value is the one added by the proxy
in front of us, the only one we trust; ALLOWED_HOSTS still validates it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

META_KEY = "HTTP_X_FORWARDED_HOST"


def nearest_forwarded_host(value: str) -> str:
    return value.rsplit(",", 1)[-1].strip()


class ForwardedHostMiddleware:
    """Put first in MIDDLEWARE, before anything that calls `request.get_host()`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        value = request.META.get(META_KEY)
        if value and "," in value:
            request.META[META_KEY] = nearest_forwarded_host(value)
        return self.get_response(request)
