"""The users service's URLs: the monolith's users, auth and JWKS paths, health, metrics, docs."""

from django.urls import include, path

from extracted.users.accounts import apis
from servicekit.web import errors
from servicekit.web.urls import api_docs_urls, operational_urls

urlpatterns = [
    *operational_urls(),
    path(".well-known/jwks.json", apis.jwks, name="jwks"),
    path("api/v1/auth/", include("extracted.users.accounts.urls_auth")),
    path("api/v1/users/", include("extracted.users.accounts.urls")),
    *api_docs_urls(),
]

handler500 = errors.server_error
