"""The WSGI fast path: `/_strangler/` to Django, everything else straight to `Proxy.handle`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from servicekit.web import cooperative
from strangler_proxy.runtime import get_proxy

ADMIN_PREFIX = "/_strangler/"


class ProxyApplication:
    """With `via_django` (tracing on: the Django instrumentation makes the server span) every
    request goes through the catch-all view instead.

    Under `servicekit.web.cooperative` (the default request mode) Django runs in the executor: its
    database calls block, and Django refuses them on a thread whose event loop runs."""

    def __init__(self, django_app: Callable[..., Iterable[bytes]], *, via_django: bool = False):
        self.django_app = django_app
        self.via_django = via_django

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if self.via_django or environ.get("PATH_INFO", "").startswith(ADMIN_PREFIX):
            return cooperative.blocking(self.django_app, environ, start_response)
        reply = get_proxy().handle(environ)
        start_response(reply.status_line, reply.headers)
        if reply.streaming:
            return reply.body  # type: ignore[return-value]  # a generator: the server closes it
        return [reply.body]  # type: ignore[list-item]
