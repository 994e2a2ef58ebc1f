"""Settings blocks every service shares (DRF, OpenAPI, Celery), built by functions, never at import."""

from __future__ import annotations

from typing import Any


def rest_framework_settings(*, throttle_rates: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "servicekit.web.jwt.authentication.JWTAuthentication",
            "rest_framework.authentication.SessionAuthentication",
        ],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
        "DEFAULT_PAGINATION_CLASS": "servicekit.web.pagination.PageNumberPagination",
        "PAGE_SIZE": 20,
        "EXCEPTION_HANDLER": "servicekit.web.errors.problem_exception_handler",
        "DEFAULT_SCHEMA_CLASS": "servicekit.web.openapi.ProblemAutoSchema",
        "DEFAULT_THROTTLE_RATES": throttle_rates or {},
        "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
        "COERCE_DECIMAL_TO_STRING": True,
        # Exactly one proxy (ours) stands in front of every service and appends the address it
        # saw to X-Forwarded-For: the throttles key on that last hop, never on what a client
        # wrote before it.
        "NUM_PROXIES": 1,
    }


def spectacular_settings(*, title: str, description: str, version: str) -> dict[str, Any]:
    return {
        "TITLE": title,
        "DESCRIPTION": description,
        "VERSION": version,
        "SERVE_INCLUDE_SCHEMA": False,
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        "COMPONENT_SPLIT_REQUEST": True,
        "SECURITY": [{"jwtAuth": []}],
        "APPEND_COMPONENTS": {
            "securitySchemes": {
                "jwtAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
        },
    }


def celery_settings(*, broker_url: str, transport_options: dict, eager: bool) -> dict[str, Any]:
    """Celery reads these as `CELERY_*` settings (namespace="CELERY"); an `amqps://` broker is
    verified TLS (servicekit.web.tls.stores)."""
    from servicekit.web.tls.stores import amqp_ssl

    tls = amqp_ssl(broker_url, store="RabbitMQ (CELERY_BROKER_URL)")
    return {
        "CELERY_BROKER_URL": broker_url,
        **({"CELERY_BROKER_USE_SSL": tls} if tls is not None else {}),
        "CELERY_BROKER_TRANSPORT_OPTIONS": transport_options,
        "CELERY_TASK_SERIALIZER": "json",
        "CELERY_ACCEPT_CONTENT": ["json"],
        "CELERY_RESULT_BACKEND": None,
        "CELERY_TASK_IGNORE_RESULT": True,
        "CELERY_TASK_ACKS_LATE": True,
        "CELERY_TASK_REJECT_ON_WORKER_LOST": True,
        "CELERY_WORKER_PREFETCH_MULTIPLIER": 1,
        # the ETA timer's longest sleep (default 1 s): its thread is joined at a worker's stop
        "CELERY_WORKER_TIMER_PRECISION": 0.1,
        "CELERY_TASK_ALWAYS_EAGER": eager,
        "CELERY_TASK_EAGER_PROPAGATES": eager,
        "CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP": True,
        # kombu's own filesystem channel writes a message file in place, so a worker can read
        # it half-written and stop on the JSON error (kombu issue 1551): the tasks take the
        # events' atomic one (write aside, then rename).
        **(
            {
                "CELERY_BROKER_TRANSPORT": "servicekit.events.broker.topology:AtomicFilesystemTransport"
            }
            if broker_url.startswith("filesystem")
            else {}
        ),
    }


def metrics_collectors() -> list[str]:
    """`SERVICEKIT_METRICS_COLLECTORS` for every service: each installs the outbox and inbox, so
    each exports their gauges (outbox lag) on its own `/metrics`. One list, so that no settings
    module can leave them out (the extracted services once did: their lag read "not exported")."""
    return [
        "servicekit.events.outbox.metrics.collect_outbox",
        "servicekit.events.inbox.metrics.collect_inbox",
        "servicekit.migration.reconcile.collect_drift",
    ]


def reconcile_settings(*, adapters: list[str], sources: dict[str, str]) -> dict[str, Any]:
    """`RECONCILE_*` for a service (servicekit/migration/reconcile.py): its adapters, its peers'
    URLs, the staff account its periodic task reads their exports with (the beat schedule is
    empty without one) and whether that task repairs the mirror here."""
    from servicekit.web.env import env_bool, env_int, env_str

    monolith = env_str("MONOLITH_URL", env_str("STRANGLER_MONOLITH_URL", "http://127.0.0.1:8001"))
    username = env_str("RECONCILE_USERNAME", "")
    password = env_str("RECONCILE_PASSWORD", "")
    interval = env_int("RECONCILE_INTERVAL", 300)
    return {
        "RECONCILE_ADAPTERS": adapters,
        "RECONCILE_SOURCES": {"monolith": monolith, **sources},
        "RECONCILE_TOKEN_URL": env_str("RECONCILE_TOKEN_URL", monolith + "/api/v1/auth/token"),
        "RECONCILE_USERNAME": username,
        "RECONCILE_PASSWORD": password,
        "RECONCILE_REPAIR": env_bool("RECONCILE_REPAIR", default=False),
        "RECONCILE_INTERVAL": interval,
        "CELERY_BEAT_SCHEDULE": {
            "reconcile": {
                "task": "servicekit.migration.tasks.reconcile_task",
                "schedule": interval,
            }
        }
        if adapters and username and password
        else {},
    }
