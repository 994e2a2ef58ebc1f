"""The Django catch-all view: the same `Proxy.handle` as the fast path, as a Django response."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from strangler_proxy.edge.reply import Reply
from strangler_proxy.runtime import get_proxy


class _RawCookies(dict):
    """Stands in for `HttpResponse.cookies`: each upstream Set-Cookie leaves byte for byte."""

    class _Raw:
        def __init__(self, value: str):
            self.value = value

        def output(self, attrs: object = None, header: str = "") -> str:
            return self.value

        OutputString = output

    def __init__(self, values: list[str]):
        super().__init__((i, self._Raw(v)) for i, v in enumerate(values))


def django_response(reply: Reply) -> HttpResponse:
    """The proxy's answer as a Django response (the catch-all view; gunicorn takes the fast path)."""
    if reply.streaming:
        response: HttpResponse = StreamingHttpResponse(reply.body, status=reply.status)
    else:
        response = HttpResponse(reply.body, status=reply.status)
    if reply.reason:
        response.reason_phrase = reply.reason
    del response["Content-Type"]
    cookies = []
    for name, value in reply.headers:
        if name.lower() == "set-cookie":
            cookies.append(value)
        elif name in response:  # a repeated field is a comma-separated list (RFC 9110 5.3)
            response[name] = f"{response[name]}, {value}"
        else:
            response[name] = value
    response.cookies = _RawCookies(cookies)  # type: ignore[assignment]
    return response


@csrf_exempt
def proxy_view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    return django_response(get_proxy().handle(request.META))
