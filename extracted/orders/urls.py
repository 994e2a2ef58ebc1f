"""The orders service's URLs: the monolith's public orders paths, health, metrics, docs."""

from django.urls import include, path

from servicekit.web import errors
from servicekit.web.urls import api_docs_urls, operational_urls

urlpatterns = [
    *operational_urls(),
    path("api/v1/orders/", include("extracted.orders.orders.urls")),
    *api_docs_urls(),
]

handler500 = errors.server_error
