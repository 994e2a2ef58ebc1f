"""The users service's URLs: the monolith's users, auth and JWKS paths, health, metrics, docs."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from extracted.users.accounts import apis
from servicekit import errors, health, metrics

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path(".well-known/jwks.json", apis.jwks, name="jwks"),
    path("api/v1/auth/", include("extracted.users.accounts.urls_auth")),
    path("api/v1/users/", include("extracted.users.accounts.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(r"^api/", errors.api_not_found),
]

handler500 = errors.server_error
