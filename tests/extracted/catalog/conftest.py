"""Fixtures for the catalog service: tokens from a local test key, ownership."""

from __future__ import annotations

import pytest

from servicekit.migration.ownership import ownership_set
from tests.support.tokens import client_for, sign_locally


@pytest.fixture(autouse=True)
def local_token_keys(settings, tmp_path):
    """This service verifies with the monolith's JWKS in production; tests sign locally."""
    sign_locally(settings, tmp_path)
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")


@pytest.fixture
def staff_client():
    return client_for(1, staff=True)


@pytest.fixture
def customer_client():
    return client_for(2, staff=False)


@pytest.fixture
def catalog_owned():
    ownership_set("product", "catalog")
    ownership_set("inventory", "catalog")
