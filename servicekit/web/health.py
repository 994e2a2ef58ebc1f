"""`/healthz` (the process answers) and `/readyz` (its database and broker are reachable)."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string

DEFAULT_CHECKS = ["servicekit.web.health.check_database", "servicekit.web.health.check_broker"]


def check_database() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connections["default"].vendor


def check_broker() -> str:
    from kombu import Connection

    url = getattr(settings, "CELERY_BROKER_URL", None)
    if not url:
        return "not configured"
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    # an amqps:// broker: the verified TLS options celery_settings made once, at start
    tls = getattr(settings, "CELERY_BROKER_USE_SSL", None) or False
    with Connection(url, transport_options=options, connect_timeout=2, ssl=tls) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return (
            conn.transport_cls
            if isinstance(conn.transport_cls, str)
            else conn.transport.driver_type
        )


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def run_checks(checks: dict[str, Callable[[], str]]) -> tuple[bool, dict[str, dict]]:
    results: dict[str, dict] = {}
    ok = True
    for name, check in checks.items():
        started = time.perf_counter()
        try:
            detail = check()
            results[name] = {"ok": True, "detail": detail}
        except Exception as exc:
            ok = False
            results[name] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return ok, results


def readyz(request: HttpRequest) -> JsonResponse:
    paths = getattr(settings, "SERVICEKIT_READY_CHECKS", DEFAULT_CHECKS)
    checks = {path.rsplit(".", 1)[-1].removeprefix("check_"): import_string(path) for path in paths}
    ok, results = run_checks(checks)
    return JsonResponse(
        {"status": "ready" if ok else "unavailable", "checks": results}, status=200 if ok else 503
    )
