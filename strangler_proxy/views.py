"""The catch-all proxy view and the authenticated admin API under /_strangler/."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from servicekit.errors import PROBLEM_CONTENT_TYPE, problem, title_for
from servicekit.http_client import breaker_retry_after
from servicekit.metrics import registry_for_scrape
from strangler_proxy import admin
from strangler_proxy.proxy import Reply
from strangler_proxy.routing import RouteTableError
from strangler_proxy.runtime import get_proxy
from strangler_proxy.table_source import route_update


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


def _problem(status: int, code: str, detail: str) -> JsonResponse:
    body = problem(status_code=status, code=code, title=title_for(status), detail=detail)
    return JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


def admin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A staff JWT (from the monolith's JWKS) or `STRANGLER_ADMIN_TOKEN` as a Bearer token."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        proxy = get_proxy()
        if proxy.auth is None or not proxy.auth.is_admin(request.META.get("HTTP_AUTHORIZATION")):
            response = _problem(
                401, "not_authenticated", "A staff token or the admin token is required."
            )
            response["WWW-Authenticate"] = 'Bearer realm="strangler-admin"'
            return response
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapper)


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@admin_required
def routes(request: HttpRequest) -> JsonResponse:
    proxy = get_proxy()
    source = proxy.source
    return JsonResponse(
        admin.routes_document(
            proxy.table(),
            source=str(source.path),
            loaded_at=source.loaded_at,
            last_error=source.last_error,
        )
    )


@admin_required
def route_detail(request: HttpRequest, name: str) -> JsonResponse:
    proxy = get_proxy()
    if request.method in ("PATCH", "PUT"):
        try:
            changes = json.loads(request.body or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object")
            route_update(proxy.source.path, name, changes)
        except KeyError:
            return _problem(404, "not_found", f"No route named {name!r}.")
        except (ValueError, RouteTableError) as exc:
            return _problem(400, "invalid", str(exc))
        proxy.source.reload()
    elif request.method != "GET":
        return _problem(405, "method_not_allowed", "Use GET or PATCH.")
    for raw in proxy.table().raw.get("routes", []):
        if raw.get("name") == name:
            return JsonResponse(raw)
    return _problem(404, "not_found", f"No route named {name!r}.")


@admin_required
def traffic(request: HttpRequest) -> JsonResponse:
    table = get_proxy().table()
    return JsonResponse(
        admin.traffic(registry_for_scrape(), default_upstream=table.default_upstream)
    )


@admin_required
def breakers(request: HttpRequest) -> JsonResponse:
    proxy = get_proxy()
    proxy.table()
    out = {}
    for name, runtime in proxy.upstreams.all().items():
        state = runtime.breaker.current_state
        out[name] = {
            "state": state,
            "fail_counter": runtime.breaker.fail_counter,
            "retry_after": breaker_retry_after(runtime.breaker) if state == "open" else None,
            "instances": runtime.pool.snapshot(),
        }
    return JsonResponse(out)


@admin_required
def shadow(request: HttpRequest) -> JsonResponse:
    proxy = get_proxy()
    return JsonResponse(
        {
            "comparisons": admin.shadow_stats(registry_for_scrape()),
            "recent_differences": proxy.shadow.store.recent(int(request.GET.get("limit", 50))),
        }
    )
