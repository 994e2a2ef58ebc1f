"""The notifications service's URLs: the monolith's notification paths, health, metrics, docs."""

from django.urls import include, path

from servicekit.web import errors
from servicekit.web.urls import api_docs_urls, operational_urls

urlpatterns = [
    *operational_urls(),
    path("api/v1/notifications/", include("extracted.notifications.notifications.urls")),
    *api_docs_urls(),
]

handler500 = errors.server_error
