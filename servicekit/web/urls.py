"""The URLs every service serves besides its own API, in the order they must come."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from servicekit.web import errors, health, metrics


def operational_urls() -> list:
    """`/healthz`, `/readyz` and `/metrics`: first, so no API pattern can shadow them."""
    return [
        path("healthz", health.healthz, name="healthz"),
        path("readyz", health.readyz, name="readyz"),
        path("metrics", metrics.metrics, name="metrics"),
    ]


def api_docs_urls() -> list:
    """The OpenAPI schema and docs, then a problem+json 404 for any other `/api/` path: put
    these after the service's API routes (and before an HTML catch-all, if any)."""
    return [
        path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
        re_path(r"^api/", errors.api_not_found),
    ]
