"""Fixtures for the notifications service: tokens from a local test key, ownership, the inbox."""

from __future__ import annotations

import pytest

from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import get_consumer
from servicekit.migration.ownership import ownership_set
from tests.extracted.notifications.builders import CUSTOMER
from tests.support.envelopes import sequences_reset
from tests.support.tokens import client_for, sign_locally


@pytest.fixture(autouse=True)
def local_token_keys(settings, tmp_path):
    """This service verifies with the monolith's JWKS in production; tests sign locally."""
    sign_locally(settings, tmp_path)
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")
    sequences_reset()  # every test's streams start at sequence 1


@pytest.fixture
def customer_client():
    return client_for(CUSTOMER)


@pytest.fixture
def service_owns():
    ownership_set("notification", "notifications")


@pytest.fixture
def inbox():
    return InboxProcessor(get_consumer("notifications"))
