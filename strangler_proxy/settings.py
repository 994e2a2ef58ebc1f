"""Proxy settings: a lean Django (no database, no middleware on the proxy path), from the env."""

from __future__ import annotations

from pathlib import Path

from servicekit.web.control_store import control_settings
from servicekit.web.env import (
    data_dir,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    secret_key,
)
from servicekit.web.logging import log_colors, log_format, logging_config
from strangler_proxy.config import default
from strangler_proxy.routes.file import live_routes_file

SERVICE_NAME = "strangler-proxy"
BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = data_dir() / "proxy"
DATA_DIR.mkdir(parents=True, exist_ok=True)

ENVIRONMENT = env_str("DJANGO_ENV", "local")
PRODUCTION = ENVIRONMENT == "production"
DEBUG = False  # the proxy never renders debug pages: upstream errors pass through as they are
SECRET_KEY = secret_key(production=PRODUCTION)
# The proxy forwards every Host to upstreams, which check their own ALLOWED_HOSTS; the proxy
# itself never builds URLs from Host except to rewrite redirects back to the same origin.
ALLOWED_HOSTS = env_list("STRANGLER_PROXY_ALLOWED_HOSTS", ["*"])

INSTALLED_APPS: list[str] = []
# Every concern (request id, auth, rate limit, metrics) is done once inside the proxy view:
# Django's middleware chain costs more than the forwarding itself.
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "strangler_proxy.urls"
WSGI_APPLICATION = "strangler_proxy.wsgi.application"
DATABASES: dict = {}
# Only the control centre page (/_strangler/ui/) renders a template.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "strangler_proxy" / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {"context_processors": []},
    }
]
USE_TZ = True
# Bodies are read by the proxy itself under STRANGLER_MAX_BODY, never through request.body.
DATA_UPLOAD_MAX_MEMORY_SIZE = None

LOGGING = logging_config(
    service_name=SERVICE_NAME,
    level=env_str("LOG_LEVEL", "INFO"),
    format=log_format(),
    colors=log_colors(),
    # the access lines written in batches, at most this many seconds apart (0: each at once)
    batched={
        "strangler_proxy.access": env_float(
            "STRANGLER_PROXY_ACCESS_LOG_FLUSH", default("access_log_flush"), minimum=0
        )
    },
)

_CONTROL = control_settings()
_MONOLITH = env_str("STRANGLER_MONOLITH_URL", f"http://127.0.0.1:{env_int('MONOLITH_PORT', 8001)}")

STRANGLER_PROXY = {
    "ROUTES_FILE": str(live_routes_file()),
    "CHECK_INTERVAL": float(
        env_str("STRANGLER_ROUTES_CHECK_INTERVAL", str(default("check_interval")))
    ),
    "MAX_BODY": env_int("STRANGLER_MAX_BODY", default("max_body")),
    "BUFFER_LIMIT": env_int("STRANGLER_BUFFER_LIMIT", default("buffer_limit")),
    "POOL_SIZE": env_int("STRANGLER_POOL_SIZE", default("pool_size")),
    "JWKS_URL": env_str("STRANGLER_JWKS_URL", f"{_MONOLITH}/.well-known/jwks.json"),
    "JWT_ISSUER": env_str("JWT_ISSUER", default("jwt_issuer")),
    "JWT_AUDIENCE": env_str("JWT_AUDIENCE", default("jwt_audience")),
    "ADMIN_TOKEN": env_str("STRANGLER_ADMIN_TOKEN", ""),
    "REDIS_URL": env_str("REDIS_URL", ""),
    # STRANGLER_CONTROL_STORE, CACHE_KEY_PREFIX, STRANGLER_CONTROL_TTL, _WAIT
    "CONTROL_STORE": _CONTROL.store,
    "REDIS_PREFIX": _CONTROL.prefix,
    "CONTROL_TTL": _CONTROL.ttl,
    "CONTROL_WAIT": _CONTROL.wait,
    "ZOOKEEPER_HOSTS": env_str("STRANGLER_ZOOKEEPER_HOSTS", ""),
    "HEALTH_CHECKS": env_bool("STRANGLER_HEALTH_CHECKS", default=default("health_checks")),
    "SHADOW_WORKERS": env_int("STRANGLER_SHADOW_WORKERS", default("shadow_workers")),
    "SHADOW_DIFFS_FILE": str(DATA_DIR / "shadow-diffs.jsonl"),
    "CAPTURE": env_bool("STRANGLER_CAPTURE", default=default("capture")),
    "CAPTURE_FILE": str(DATA_DIR / "shadow-capture.jsonl"),
    "LIFECYCLE_DIR": str(DATA_DIR),
    "LIFECYCLE_EVALUATOR": env_bool(
        "STRANGLER_LIFECYCLE_EVALUATOR", default=default("lifecycle_evaluator")
    ),
    "LIFECYCLE_INTERVAL": float(
        env_str("STRANGLER_LIFECYCLE_INTERVAL", str(default("lifecycle_interval")))
    ),
    "CONTROL_SERIES_STEP": float(
        env_str("STRANGLER_CONTROL_SERIES_STEP", str(default("control_series_step")))
    ),
    "TRUST_CANARY_HEADER": env_bool(
        "STRANGLER_TRUST_CANARY_HEADER", default=default("trust_canary_header")
    ),
    "FORWARDED_ALLOW_IPS": env_str("STRANGLER_PROXY_FORWARDED_ALLOW_IPS", ""),
    "CANARY_SECRET": env_str("STRANGLER_CANARY_SECRET", ""),
    "ADMIN_ONLY_PATHS": tuple(
        env_list("STRANGLER_ADMIN_ONLY_PATHS", list(default("admin_only_paths")))
    ),
    # One structured line per request (strangler_proxy/edge/access_log.py); false for benchmarks.
    "ACCESS_LOG": env_bool("STRANGLER_PROXY_ACCESS_LOG", default=default("access_log")),
    "NGINX_CONF": env_str("STRANGLER_NGINX_CONF", ""),
    "NGINX_RELOAD": env_str("STRANGLER_NGINX_RELOAD", ""),
    "NGINX_LISTEN": env_str("STRANGLER_NGINX_LISTEN", default("nginx_listen")),
    "NGINX_COMPARATOR": env_str("STRANGLER_NGINX_COMPARATOR", ""),
    "NGINX_ACCESS_LOG": env_str("STRANGLER_NGINX_ACCESS_LOG", ""),
    "NGINX_CLIENT_TIMEOUT": float(
        env_str("STRANGLER_NGINX_CLIENT_TIMEOUT", str(default("nginx_client_timeout")))
    ),
    "TRACING": env_bool(
        "STRANGLER_TRACING",
        default=bool(env_str("OTEL_EXPORTER_OTLP_ENDPOINT", "") or env_str("OTEL_TRACES_FILE", "")),
    ),
}
