"""Catalog service settings: the shared service defaults plus who owns catalog data."""

from contracts import topology
from servicekit.web.django_defaults import reconcile_settings
from servicekit.web.env import env_bool, env_str
from servicekit.web.service_settings import service_settings

globals().update(
    service_settings(
        service_name="catalog",
        apps=[
            "extracted.catalog.products",
            "extracted.catalog.stock",
            "extracted.catalog.graphql_api",
        ],
        urlconf="extracted.catalog.urls",
        wsgi="extracted.catalog.wsgi.application",
        title="Catalog service API",
        description="Products, prices and stock; the same public paths and shapes as the "
        "monolith's catalog. Every error is RFC 9457 problem+json.",
    )
)
# The shop's event topology (exchange, queue per consumer): the plumbing is given it here.
SERVICEKIT_EVENTS = dict(topology.SERVICEKIT_EVENTS)

OWNERSHIP_FILE = env_str("OWNERSHIP_FILE", "")

# Only the allow-listed GraphQL documents run (extracted/catalog/graphql_api/persisted.py);
# on by default in production, off where developers write new queries.
GRAPHQL_PERSISTED_ONLY = env_bool(
    "GRAPHQL_PERSISTED_ONLY",
    default=ENVIRONMENT == "production",  # noqa: F821 (from service_settings)
)

# Stock is event-sourced (extracted/catalog/stock/eventstore.py): a sku's state is snapshotted
# every this many events, so loading it folds at most this many.
STOCK_SNAPSHOT_EVERY = 50

# Reconciliation with the monolith's copy (servicekit/migration/reconcile.py), periodic in the
# worker's beat when a staff account is configured for the monolith's export API.
globals().update(
    reconcile_settings(
        adapters=[
            "extracted.catalog.products.reconcile.ProductMirror",
            "extracted.catalog.products.reconcile.CategoryMirror",
            "extracted.catalog.stock.reconcile.InventoryMirror",
        ],
        sources={},
    )
)
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")  # noqa: F821 (from service_settings)
