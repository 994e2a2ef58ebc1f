"""Catalog service settings: the shared service defaults plus who owns catalog data."""

from servicekit.web.env import env_int, env_str
from servicekit.web.service_settings import service_settings

globals().update(
    service_settings(
        service_name="catalog",
        apps=["extracted.catalog.products", "extracted.catalog.stock"],
        urlconf="extracted.catalog.urls",
        wsgi="extracted.catalog.wsgi.application",
        title="Catalog service API",
        description="Products, prices and stock; the same public paths and shapes as the "
        "monolith's catalog. Every error is RFC 9457 problem+json.",
    )
)

OWNERSHIP_FILE = env_str("OWNERSHIP_FILE", "")

# Periodic reconciliation with the monolith's copy (products.tasks.catalog_reconcile_task):
# scheduled only when a staff account is configured for the monolith's export API.
RECONCILE_SOURCE = env_str(
    "MONOLITH_URL", env_str("STRANGLER_MONOLITH_URL", "http://127.0.0.1:8001")
)
RECONCILE_USERNAME = env_str("RECONCILE_USERNAME", "")
RECONCILE_PASSWORD = env_str("RECONCILE_PASSWORD", "")
RECONCILE_INTERVAL = env_int("RECONCILE_INTERVAL", 300)
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")  # noqa: F821 (from service_settings)
CELERY_BEAT_SCHEDULE = (
    {
        "catalog-reconcile": {
            "task": "extracted.catalog.products.tasks.catalog_reconcile_task",
            "schedule": RECONCILE_INTERVAL,
        }
    }
    if RECONCILE_USERNAME and RECONCILE_PASSWORD
    else {}
)
