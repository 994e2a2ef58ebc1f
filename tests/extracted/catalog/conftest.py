"""Fixtures for the catalog service: tokens from a local test key, events as envelopes."""

from __future__ import annotations

import uuid
from decimal import Decimal
from itertools import count

import pytest
from rest_framework.test import APIClient

from contracts.envelope import Envelope, now_utc
from servicekit.jwt.conf import signing_key, token_policy
from servicekit.jwt.tokens import ACCESS, token_issue
from servicekit.ownership import ownership_set


@pytest.fixture(autouse=True)
def local_token_keys(settings, tmp_path):
    """This service verifies with the monolith's JWKS in production; tests sign locally."""
    settings.SERVICEKIT_JWT = {
        **settings.SERVICEKIT_JWT,
        "JWKS_URL": None,
        "PRIVATE_KEY_PATH": str(tmp_path / "test-key.pem"),
    }
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")


def client_for(user_id: int, *, staff: bool) -> APIClient:
    token = token_issue(
        key=signing_key(),
        policy=token_policy(),
        subject=str(user_id),
        token_type=ACCESS,
        claims={"username": f"user{user_id}", "is_staff": staff},
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


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


_sequences: dict[tuple[str, str], count] = {}


def envelope(event, *, origin: str = "monolith", sequence: int | None = None) -> Envelope:
    key = (event.aggregate_type, event.aggregate_id)
    if sequence is None:
        sequence = next(_sequences.setdefault((origin, *key), count(1)))
    return Envelope(
        event_id=uuid.uuid4(),
        event_type=event.event_type,
        aggregate_type=event.aggregate_type,
        aggregate_id=event.aggregate_id,
        sequence=sequence,
        occurred_at=now_utc(),
        origin=origin,
        payload=event.to_payload(),
    )


def product_created(sku: str = "MUG-1", **overrides):
    from contracts.catalog import ProductCreatedV1

    fields = {
        "sku": sku,
        "name": "Mug",
        "description": "",
        "category": "kitchen",
        "price": str(Decimal("4.50")),
        "currency": "EUR",
        "is_active": True,
        "on_hand": 10,
        "reserved": 0,
        **overrides,
    }
    return ProductCreatedV1(**fields)
