"""The catch-all proxy view and the authenticated admin API under /_strangler/."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path

import urllib3
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from servicekit.web.errors import PROBLEM_CONTENT_TYPE, problem, title_for
from servicekit.web.http_client import breaker_retry_after
from servicekit.web.metrics import registry_for_scrape
from strangler_proxy import admin
from strangler_proxy.proxy import Reply
from strangler_proxy.routing import RouteTableError
from strangler_proxy.runtime import get_proxy
from strangler_proxy.table_source import route_update

_STATIC = Path(__file__).resolve().parent / "static" / "strangler"


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


# --- migration control: lifecycle, inventory, outbox lag, the control centre page ------------


def _lifecycle_controller():
    from strangler_proxy import lifecycle
    from strangler_proxy.runtime import lifecycle_folder

    config = settings.STRANGLER_PROXY
    return lifecycle.Controller(
        routes_file=get_proxy().source.path,
        store=lifecycle.LifecycleStore(lifecycle_folder(config)),
        read_snapshot=lifecycle.local_snapshot,
    )


@admin_required
def lifecycle_view(request: HttpRequest) -> JsonResponse:
    """Every route's stage, evidence and verdict, and the history (newest first)."""
    from dataclasses import asdict

    controller = _lifecycle_controller()
    return JsonResponse(
        {
            "routes": [asdict(row) for row in controller.status()],
            "history": controller.store.history(
                route=request.GET.get("route"), limit=int(request.GET.get("limit", 100))
            ),
        }
    )


@admin_required
def lifecycle_action(request: HttpRequest, name: str, action: str) -> JsonResponse:
    """POST promote (JSON `{"force": true}` to pass failing gates, recorded) or rollback."""
    from strangler_proxy.lifecycle import LifecycleError

    if request.method != "POST":
        return _problem(405, "method_not_allowed", "Use POST.")
    try:
        options = json.loads(request.body or b"{}")
    except ValueError:
        return _problem(400, "invalid", "the body must be JSON")
    controller = _lifecycle_controller()
    try:
        if action == "promote":
            entry = controller.promote(name, by="api", force=bool(options.get("force")))
        else:
            entry = controller.rollback(name, by="api", reason=options.get("reason", "operator"))
    except LifecycleError as exc:
        return _problem(409, "refused", str(exc))
    get_proxy().source.reload()
    return JsonResponse(entry)


@admin_required
def inventory_view(request: HttpRequest) -> JsonResponse:
    from strangler_proxy import inventory, lifecycle
    from strangler_proxy.runtime import lifecycle_folder

    folder = lifecycle_folder(settings.STRANGLER_PROXY)
    try:
        endpoints = inventory.cached_endpoints(folder, refresh=request.GET.get("refresh") == "1")
    except inventory.InventoryError as exc:
        return _problem(503, "inventory_unavailable", str(exc))
    traffic_counts = inventory.traffic_by_route(lifecycle.local_snapshot())
    rows = inventory.inventory(endpoints, get_proxy().table(), traffic_counts)
    return JsonResponse({"summary": inventory.summary(rows), "endpoints": rows})


_outbox_http = urllib3.PoolManager(num_pools=8, maxsize=2)


@admin_required
def outbox(request: HttpRequest) -> JsonResponse:
    """Outbox lag per upstream, read from each one's Prometheus `/metrics` (first instance)."""
    from strangler_proxy.outbox_lag import outbox_lag

    proxy = get_proxy()
    proxy.table()
    targets = {
        name: runtime.pool.snapshot()[0]["url"]
        for name, runtime in proxy.upstreams.all().items()
        if runtime.pool.snapshot()
    }
    return JsonResponse({"services": outbox_lag(targets, http=_outbox_http)})


def control_centre(request: HttpRequest) -> HttpResponse:
    """The page itself holds no data: its script calls the admin API with a staff token."""
    return render(request, "strangler/control.html", {"poll_ms": 2000})


def control_centre_script(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_STATIC.joinpath("control.js").read_bytes(), content_type="text/javascript")


def control_centre_style(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_STATIC.joinpath("control.css").read_bytes(), content_type="text/css")
