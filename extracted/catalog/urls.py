"""The catalog service's URLs: the monolith's public catalog paths, GraphQL reads, health,
metrics, docs."""

from django.urls import include, path

from servicekit.web import errors
from servicekit.web.urls import api_docs_urls, operational_urls

urlpatterns = [
    *operational_urls(),
    path("api/v1/", include("extracted.catalog.products.urls")),
    path("api/v1/graphql/", include("extracted.catalog.graphql_api.urls")),
    *api_docs_urls(),
]

handler500 = errors.server_error
