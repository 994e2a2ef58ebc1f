"""Catalog service settings: the shared service defaults plus who owns catalog data."""

from servicekit.env import env_str
from servicekit.service_settings import service_settings

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
