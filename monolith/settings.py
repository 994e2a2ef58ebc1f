"""Monolith settings: everything from the environment, embedded defaults when nothing is set."""

from __future__ import annotations

from pathlib import Path

from contracts import topology
from servicekit.web import django_defaults
from servicekit.web.env import (
    broker_url,
    cache_config,
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
from servicekit.web.tls.stores import cache_tls, database_tls

SERVICE_NAME = "monolith"
BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = data_dir() / SERVICE_NAME
DATA_DIR.mkdir(parents=True, exist_ok=True)

ENVIRONMENT = env_str("DJANGO_ENV", "local")  # local | test | production
PRODUCTION = ENVIRONMENT == "production"
DEBUG = env_bool("DJANGO_DEBUG", default=ENVIRONMENT == "local")
SECRET_KEY = secret_key(production=PRODUCTION)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list(
    "DJANGO_CSRF_TRUSTED_ORIGINS", ["http://localhost:8000", "http://127.0.0.1:8000"]
)
# Behind the strangler proxy: trust its X-Forwarded-Proto/Host so redirects and CSRF use the
# public origin.
USE_X_FORWARDED_HOST = env_bool("DJANGO_USE_X_FORWARDED_HOST", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PRODUCTION
SESSION_COOKIE_HTTPONLY = True
# Under /api/ a refused CSRF check is a problem+json 403 like every other API error.
CSRF_FAILURE_VIEW = "servicekit.web.errors.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_structlog",
    "servicekit.web",
    "servicekit.events.outbox",
    "servicekit.events.relay",
    "servicekit.events.inbox",
    "servicekit.migration",
    "monolith.users",
    "monolith.catalog",
    "monolith.orders",
    "monolith.notifications",
    "monolith.storefront",
]

MIDDLEWARE = [
    "servicekit.web.forwarded.ForwardedHostMiddleware",
    "servicekit.web.metrics.RequestMetricsMiddleware",
    "servicekit.web.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
]

ROOT_URLCONF = "monolith.urls"
WSGI_APPLICATION = "monolith.wsgi.application"
AUTH_USER_MODEL = "users.User"
LOGIN_URL = "storefront:login"
LOGIN_REDIRECT_URL = "storefront:product-list"
LOGOUT_REDIRECT_URL = "storefront:product-list"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": database_tls(database_config(service=SERVICE_NAME), service=SERVICE_NAME)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if ENVIRONMENT == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True  # serve app static files without collectstatic in local runs
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

CACHES = {"default": cache_tls(cache_config(service=SERVICE_NAME))}

REST_FRAMEWORK = django_defaults.rest_framework_settings(
    throttle_rates={"auth": env_str("AUTH_THROTTLE_RATE", "30/min")}
)
SPECTACULAR_SETTINGS = django_defaults.spectacular_settings(
    title="Strangler shop (monolith) API",
    description="The monolith's public API: users, catalog, orders, notifications. "
    "Every error is RFC 9457 problem+json.",
    version="1.0.0",
)

SERVICEKIT_JWT = {
    "ISSUER": env_str("JWT_ISSUER", "strangler-users"),
    "AUDIENCE": env_str("JWT_AUDIENCE", "strangler"),
    "ACCESS_TTL": env_int("JWT_ACCESS_TTL", 900),
    "REFRESH_TTL": env_int("JWT_REFRESH_TTL", 7 * 24 * 3600),
    "PRIVATE_KEY_PEM": env_str("JWT_PRIVATE_KEY", "") or None,
    # The key made before the key ring existed: it seeds the ring (or joins it as a previous
    # key), so tokens signed with it keep verifying.
    "PRIVATE_KEY_PATH": str(DATA_DIR / "jwt" / "private.pem"),
    # The key ring shared with the users service (servicekit/web/jwt/keyring.py; chapter 08): both
    # sign with its active key and publish every key in it. In a cluster, mount one Secret.
    "KEYS_DIR": env_str("JWT_KEYS_DIR", str(DATA_DIR.parent / "jwt")),
    "USER_RESOLVER": "monolith.users.selectors.user_from_token_claims",
}

# Where the storefront places and lists orders once the orders service owns them
# (monolith/storefront/orders_gateway.py); `make run` sets STRANGLER_ORDERS_URL.
STOREFRONT_ORDERS_URL = env_str(
    "STOREFRONT_ORDERS_URL", env_str("STRANGLER_ORDERS_URL", "http://127.0.0.1:8004")
)

_BROKER_URL = broker_url()
globals().update(
    django_defaults.celery_settings(
        broker_url=_BROKER_URL,
        transport_options=filesystem_broker_options()
        if _BROKER_URL.startswith("filesystem")
        else {},
        eager=env_bool("CELERY_TASK_ALWAYS_EAGER", default=False),
    )
)
CELERY_TASK_DEFAULT_QUEUE = "monolith"
# Event consumers hosted by the Celery worker (servicekit/events/inbox/celery_step.py) instead of their
# own `inbox_consume` processes: e.g. CELERY_INBOX_CONSUMERS=monolith.notifications,monolith.catalog
SERVICEKIT_CELERY_INBOX_CONSUMERS = env_list("CELERY_INBOX_CONSUMERS", [])
# The shop's event topology (exchange, queue per consumer): the plumbing is given it here.
SERVICEKIT_EVENTS = dict(topology.SERVICEKIT_EVENTS)
DJANGO_STRUCTLOG_CELERY_ENABLED = True
# servicekit.web.request_id has already validated (or replaced) X-Request-ID: log that same id.
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(DATA_DIR / "mail"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "shop@strangler.local")

LOGGING = logging_config(
    service_name=SERVICE_NAME,
    level=env_str("LOG_LEVEL", "INFO"),
    format=log_format(),
    colors=log_colors(),
)

SERVICEKIT_METRICS_COLLECTORS = django_defaults.metrics_collectors()
# Reconciliation of the entities the monolith mirrors once an extracted service owns them
# (servicekit/migration/reconcile.py; `manage.py reconcile`, beat: `celery -A monolith worker -B`)
globals().update(
    django_defaults.reconcile_settings(
        adapters=[
            "monolith.catalog.reconcile.ProductMirror",
            "monolith.catalog.reconcile.InventoryMirror",
            "monolith.users.reconcile.UserMirror",
            "monolith.notifications.reconcile.NotificationMirror",
            "monolith.orders.reconcile.OrderMirror",
        ],
        sources={
            "catalog": env_str("STRANGLER_CATALOG_URL", "http://127.0.0.1:8002"),
            "notifications": env_str("STRANGLER_NOTIFICATIONS_URL", "http://127.0.0.1:8003"),
            "orders": env_str("STRANGLER_ORDERS_URL", "http://127.0.0.1:8004"),
            "users": env_str("STRANGLER_USERS_URL", "http://127.0.0.1:8005"),
        },
    )
)
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

SERVICEKIT_READY_CHECKS = [
    "servicekit.web.health.check_database",
    "servicekit.web.health.check_broker",
]
