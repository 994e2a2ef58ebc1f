"""Fixtures for the orders service: local tokens, ownership, a fake catalog."""

from __future__ import annotations

import pytest

from servicekit.migration.ownership import ownership_set
from tests.extracted.orders.fakes import FakeCatalog, apply, product
from tests.support.envelopes import sequences_reset
from tests.support.tokens import client_for, sign_locally


@pytest.fixture(autouse=True)
def local_token_keys(settings, tmp_path):
    """This service verifies with the monolith's JWKS in production; tests sign locally."""
    sign_locally(settings, tmp_path)
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")
    settings.SAGA_STEP_TIMEOUT = 30.0
    settings.FAKE_PAYMENT_TEST_HOOKS = True


@pytest.fixture
def customer():
    return client_for(2)


@pytest.fixture
def staff():
    return client_for(1, staff=True)


@pytest.fixture
def orders_owned():
    ownership_set("order", "orders")
    ownership_set("inventory", "catalog")


@pytest.fixture(autouse=True)
def fresh_sequences():
    # each test has a fresh database: sequences start again
    sequences_reset()


@pytest.fixture
def catalog(orders_owned, db):
    fake = FakeCatalog({"MUG-1": 10, "TEA-1": 3})
    apply(product("MUG-1", on_hand=10), product("TEA-1", price="7.25", on_hand=3), origin="catalog")
    return fake
