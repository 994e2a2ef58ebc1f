"""Shared fixtures for every suite (helpers live in tests/support)."""

from __future__ import annotations

import pytest


@pytest.fixture
def database_vendor(django_db_blocker) -> str:
    from django.db import connection

    return connection.vendor
