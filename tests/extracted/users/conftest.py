"""Fixtures for the users service: its own key ring and ownership file per test, an API client."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from servicekit.migration.ownership import ownership_set


@pytest.fixture(autouse=True)
def own_key_ring_and_ownership(settings, tmp_path):
    settings.SERVICEKIT_JWT = {**settings.SERVICEKIT_JWT, "KEYS_DIR": str(tmp_path / "jwt")}
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")


@pytest.fixture
def users_owned():
    ownership_set("user", "users")


@pytest.fixture
def api():
    return APIClient()
