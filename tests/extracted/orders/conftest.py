"""Fixtures for the orders service: local tokens, ownership, a fake catalog, a real one."""

from __future__ import annotations

import pytest

from servicekit.migration.ownership import ownership_set
from tests.extracted.orders.fakes import FakeCatalog, apply, product
from tests.support import fleet
from tests.support.envelopes import sequences_reset
from tests.support.tokens import client_for, sign_locally

QUOTE_SEED = (
    "from tests.extracted.catalog.builders import catalog_rows; catalog_rows(5, inactive=1)"
)


@pytest.fixture(scope="package")
def quoting_catalog(tmp_path_factory):
    """A real catalog HTTP process, seeded (GQL-0000..GQL-0005, GQL-0005 inactive), shared by
    the quote's transport tests (each starts its gRPC server beside it: fleet.CatalogGrpc)."""
    seed = [["shell", "-c", QUOTE_SEED]]
    with fleet.catalog(tmp_path_factory.mktemp("quote"), setup=seed) as service:
        yield service


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
