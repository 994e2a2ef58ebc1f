"""The monolith's URLs: JSON APIs under /api/, JWKS, health, docs, and the storefront."""

from django.contrib import admin
from django.urls import include, path

from servicekit.web import errors
from servicekit.web.urls import api_docs_urls, operational_urls

api_v1 = [
    path("auth/", include("monolith.users.urls_auth")),
    path("users/", include("monolith.users.urls")),
    path("", include("monolith.catalog.urls")),
    path("orders/", include("monolith.orders.urls")),
    path("notifications/", include("monolith.notifications.urls")),
]

urlpatterns = [
    *operational_urls(),
    path(".well-known/jwks.json", include("monolith.users.urls_jwks")),
    path("api/v1/", include(api_v1)),
    *api_docs_urls(),
    path("admin/", admin.site.urls),
    path("", include("monolith.storefront.urls")),
]

handler500 = errors.server_error
