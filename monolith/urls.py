"""The monolith's URLs: JSON APIs under /api/, JWKS, health, docs, and the storefront."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from servicekit import errors, health, metrics

api_v1 = [
    path("auth/", include("monolith.users.urls_auth")),
    path("users/", include("monolith.users.urls")),
    path("", include("monolith.catalog.urls")),
    path("orders/", include("monolith.orders.urls")),
    path("notifications/", include("monolith.notifications.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path(".well-known/jwks.json", include("monolith.users.urls_jwks")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(r"^api/", errors.api_not_found),
    path("admin/", admin.site.urls),
    path("", include("monolith.storefront.urls")),
]

handler500 = errors.server_error
