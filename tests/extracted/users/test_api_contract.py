"""The users service documents what its token endpoints answer, and its login throttle counts
exactly one proxy in front of it."""

import pytest
from django.core.cache import cache
from drf_spectacular.generators import SchemaGenerator
from rest_framework.throttling import ScopedRateThrottle

pytestmark = pytest.mark.django_db


def test_the_token_endpoints_and_registration_document_their_401():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert "401" in paths["/api/v1/auth/token"]["post"]["responses"]
    assert "401" in paths["/api/v1/auth/token/refresh"]["post"]["responses"]
    # a bad bearer token is refused even where anyone may register
    assert "401" in paths["/api/v1/users/"]["post"]["responses"]


def test_each_export_page_is_its_own_component():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    content = schema["paths"]["/api/v1/users/export/"]["get"]["responses"]["200"]["content"]
    assert content["application/json"]["schema"]["$ref"].endswith("/UserExportPage")


def test_a_random_forwarded_for_per_try_does_not_escape_the_login_throttle(api, monkeypatch):
    # given 5 logins a minute, and a client that writes a new X-Forwarded-For for every try in
    # front of the address our proxy appends (127.0.0.1)
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"auth": "5/min"})
    # the bucket of the proxy's address only: the cache may be a Redis other runs share
    cache.delete(ScopedRateThrottle.cache_format % {"scope": "auth", "ident": "127.0.0.1"})
    statuses = [
        api.post(
            "/api/v1/auth/token",
            {"username": "nobody", "password": "wrong"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt}, 127.0.0.1",
        ).status_code
        for attempt in range(8)
    ]
    # then the 6th try is throttled all the same
    assert statuses == [401] * 5 + [429] * 3
