"""Users service settings: the shared service defaults, its user model, its key ring, and who
owns user accounts."""

from contracts import topology
from servicekit.web.django_defaults import reconcile_settings
from servicekit.web.env import cache_config, data_dir, env_int, env_str
from servicekit.web.service_settings import service_settings
from servicekit.web.tls.stores import cache_tls

_settings = service_settings(
    service_name="users",
    apps=["extracted.users.accounts"],
    urlconf="extracted.users.urls",
    wsgi="extracted.users.wsgi.application",
    title="Users service API",
    description="Registration, profile, staff account list, token issue and refresh, JWKS; the "
    "same public paths and shapes as the monolith's. Every error is RFC 9457 problem+json.",
)
globals().update(_settings)
# The shop's event topology (exchange, queue per consumer): the plumbing is given it here.
SERVICEKIT_EVENTS = dict(topology.SERVICEKIT_EVENTS)

AUTH_USER_MODEL = "accounts.User"
OWNERSHIP_FILE = env_str("OWNERSHIP_FILE", "")
# `manage.py reconcile`: this copy against the other side (servicekit/migration/reconcile.py)
globals().update(
    reconcile_settings(adapters=["extracted.users.accounts.reconcile.UserMirror"], sources={})
)
# The same validators and hashers as the monolith: a hash copied from it verifies here.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if _settings["ENVIRONMENT"] == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

REST_FRAMEWORK = {
    **_settings["REST_FRAMEWORK"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_RATES": {"auth": env_str("AUTH_THROTTLE_RATE", "30/min")},
}
# The issuer: signs with the key ring's active key and verifies with its own keys (never its
# own JWKS over HTTP). The ring folder is shared with the monolith while it still issues, so
# tokens it signed keep verifying here after the flip (migrations_plan/ chapter 08).
SERVICEKIT_JWT = {
    "ISSUER": env_str("JWT_ISSUER", "strangler-users"),
    "AUDIENCE": env_str("JWT_AUDIENCE", "strangler"),
    "ACCESS_TTL": env_int("JWT_ACCESS_TTL", 900),
    "REFRESH_TTL": env_int("JWT_REFRESH_TTL", 7 * 24 * 3600),
    "PRIVATE_KEY_PEM": env_str("JWT_PRIVATE_KEY", "") or None,
    "KEYS_DIR": env_str("JWT_KEYS_DIR", str(data_dir() / "jwt")),
    "JWKS_URL": None,
    "USER_RESOLVER": "extracted.users.accounts.selectors.user_from_token_claims",
}
# The token endpoint's throttle counts here: shared across workers when Redis is configured.
CACHES = {"default": cache_tls(cache_config(service="users"))}
