"""The settings every extracted service starts from: one function, read from the environment.

An extracted service's `settings.py` is a few lines:

    globals().update(service_settings(service_name="catalog", apps=[...], urlconf="..."))

Everything is read when the function runs (at settings import of that service), never at
import of this module.
"""

from __future__ import annotations

from typing import Any

from servicekit.web import django_defaults
from servicekit.web.env import (
    broker_url,
    data_dir,
    database_config,
    env_bool,
    env_int,
    env_list,
    env_str,
    filesystem_broker_options,
    secret_key,
)
from servicekit.web.logging import log_colors, log_format, logging_config
from servicekit.web.tls.stores import database_tls

DEFAULT_JWKS_URL = "http://127.0.0.1:8001/.well-known/jwks.json"


def service_settings(
    *,
    service_name: str,
    apps: list[str],
    urlconf: str,
    wsgi: str,
    title: str,
    description: str,
) -> dict[str, Any]:
    environment = env_str("DJANGO_ENV", "local")
    production = environment == "production"
    folder = data_dir() / service_name
    folder.mkdir(parents=True, exist_ok=True)
    broker = broker_url()
    settings: dict[str, Any] = {
        "SERVICE_NAME": service_name,
        "DATA_DIR": folder,
        "ENVIRONMENT": environment,
        "DEBUG": env_bool("DJANGO_DEBUG", default=environment == "local"),
        "SECRET_KEY": secret_key(production=production),
        "ALLOWED_HOSTS": env_list(
            "DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver", service_name]
        ),
        "USE_X_FORWARDED_HOST": env_bool("DJANGO_USE_X_FORWARDED_HOST", default=True),
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
        "INSTALLED_APPS": [
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.staticfiles",
            "rest_framework",
            "drf_spectacular",
            "drf_spectacular_sidecar",
            "django_structlog",
            "servicekit.web",
            "servicekit.events.outbox",
            "servicekit.events.relay",
            "servicekit.events.inbox",
            "servicekit.migration",
            *apps,
        ],
        "MIDDLEWARE": [
            "servicekit.web.forwarded.ForwardedHostMiddleware",
            "servicekit.web.metrics.RequestMetricsMiddleware",
            "servicekit.web.request_id.RequestIdMiddleware",
            "django.middleware.security.SecurityMiddleware",
            "whitenoise.middleware.WhiteNoiseMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django_structlog.middlewares.RequestMiddleware",
        ],
        "ROOT_URLCONF": urlconf,
        "WSGI_APPLICATION": wsgi,
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
            }
        ],
        "DATABASES": {
            "default": database_tls(database_config(service=service_name), service=service_name)
        },
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "LANGUAGE_CODE": "en-us",
        "TIME_ZONE": "UTC",
        "USE_I18N": False,
        "USE_TZ": True,
        "STATIC_URL": "static/",
        "STATIC_ROOT": folder / "static",
        "WHITENOISE_USE_FINDERS": True,
        "REST_FRAMEWORK": {
            **django_defaults.rest_framework_settings(),
            # No sessions here: a caller is whoever its bearer token says, verified locally.
            "DEFAULT_AUTHENTICATION_CLASSES": [
                "servicekit.web.jwt.authentication.JWTAuthentication"
            ],
            "UNAUTHENTICATED_USER": None,
        },
        "SPECTACULAR_SETTINGS": django_defaults.spectacular_settings(
            title=title, description=description, version="1.0.0"
        ),
        "SERVICEKIT_JWT": {
            "ISSUER": env_str("JWT_ISSUER", "strangler-users"),
            "AUDIENCE": env_str("JWT_AUDIENCE", "strangler"),
            "JWKS_URL": env_str("JWKS_URL", DEFAULT_JWKS_URL),
            "USER_RESOLVER": "servicekit.web.jwt.authentication.token_user",
        },
        **django_defaults.celery_settings(
            broker_url=broker,
            transport_options=filesystem_broker_options()
            if broker.startswith("filesystem")
            else {},
            eager=env_bool("CELERY_TASK_ALWAYS_EAGER", default=False),
        ),
        # Not `service_name`: that is the name of the service's event queue (contracts.topology).
        "CELERY_TASK_DEFAULT_QUEUE": f"{service_name}-tasks",
        "DJANGO_STRUCTLOG_CELERY_ENABLED": True,
        "DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID": True,
        "LOGGING": logging_config(
            service_name=service_name,
            level=env_str("LOG_LEVEL", "INFO"),
            format=log_format(),
            colors=log_colors(),
        ),
        "SERVICEKIT_METRICS_COLLECTORS": django_defaults.metrics_collectors(),
        "SERVICEKIT_READY_CHECKS": [
            "servicekit.web.health.check_database",
            "servicekit.web.health.check_broker",
        ],
        "PORT": env_int(service_name.upper() + "_PORT", 0),
    }
    settings["STATIC_ROOT"].mkdir(exist_ok=True)
    return settings
