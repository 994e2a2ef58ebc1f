"""The authenticated admin API under /_strangler/ (thin: read models and services do the work)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from functools import wraps

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from servicekit.web.control_store import ReplicasLagging
from servicekit.web.errors import PROBLEM_CONTENT_TYPE, problem, title_for
from servicekit.web.http_client import breaker_retry_after
from servicekit.web.metrics import registry_for_scrape
from strangler_proxy.control import read_models, route_inventory
from strangler_proxy.control.outbox_lag import outbox_lag, reconcile_drift
from strangler_proxy.control.series import series_document
from strangler_proxy.lifecycle.evidence import local_snapshot
from strangler_proxy.lifecycle.policy import LifecycleError
from strangler_proxy.routes.file import route_update
from strangler_proxy.routes.model import RouteTableError
from strangler_proxy.runtime import get_proxy, get_runtime


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
        read_models.routes_document(
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
            route_update(proxy.source.document, name, changes)
        except ReplicasLagging as exc:  # written, but not yet applied everywhere
            return _problem(504, "replicas_lagging", str(exc))
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
        read_models.traffic(registry_for_scrape(), default_upstream=table.default_upstream)
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
            "comparisons": read_models.shadow_stats(registry_for_scrape()),
            "recent_differences": proxy.shadow.store.recent(int(request.GET.get("limit", 50))),
        }
    )


# --- migration control: lifecycle, inventory, outbox lag, the control centre page ------------


@admin_required
def lifecycle_view(request: HttpRequest) -> JsonResponse:
    """Every route's stage, evidence and verdict, and the history (newest first)."""
    controller = get_runtime().lifecycle
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
    if request.method != "POST":
        return _problem(405, "method_not_allowed", "Use POST.")
    try:
        options = json.loads(request.body or b"{}")
    except ValueError:
        return _problem(400, "invalid", "the body must be JSON")
    controller = get_runtime().lifecycle
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
    folder = get_runtime().config.lifecycle_folder
    try:
        endpoints = route_inventory.cached_endpoints(
            folder, refresh=request.GET.get("refresh") == "1"
        )
    except route_inventory.InventoryError as exc:
        return _problem(503, "inventory_unavailable", str(exc))
    traffic_counts = route_inventory.traffic_by_route(local_snapshot())
    rows = route_inventory.inventory(endpoints, get_proxy().table(), traffic_counts)
    return JsonResponse({"summary": route_inventory.summary(rows), "endpoints": rows})


@admin_required
def outbox(request: HttpRequest) -> JsonResponse:
    """Outbox lag per upstream, read from each one's Prometheus `/metrics` (first instance)."""
    runtime = get_runtime()
    return JsonResponse(
        {"services": outbox_lag(runtime.metrics_targets(), http=runtime.outbox_http)}
    )


@admin_required
def reconcile(request: HttpRequest) -> JsonResponse:
    """Reconciliation drift per upstream and entity (`strangler_reconcile_drift`)."""
    runtime = get_runtime()
    return JsonResponse(
        {"services": reconcile_drift(runtime.metrics_targets(), http=runtime.outbox_http)}
    )


MAX_POINTS = 720


@admin_required
def series(request: HttpRequest) -> JsonResponse:
    """The plots' data: per route and side, breaker and service, over the last `points` samples
    (default 120; one every STRANGLER_CONTROL_SERIES_STEP seconds, taken by one worker)."""
    try:
        points = int(request.GET.get("points", 120))
        if not 2 <= points <= MAX_POINTS:
            raise ValueError
    except ValueError:
        return _problem(400, "invalid", f"points must be a whole number from 2 to {MAX_POINTS}.")
    runtime = get_runtime()
    table = get_proxy().table()
    document = series_document(
        runtime.series.latest(points),
        routes={route.name: route.upstream for route in table.routes},
        upstreams=list(table.upstreams),
    )
    return JsonResponse(
        {
            **document,
            "step_seconds": runtime.config.control_series_step,
            "default_upstream": table.default_upstream,
        }
    )
