"""Fixtures for the monolith's tests: users, tokens and API clients."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.monolith.clients import bearer_client
from tests.monolith.factories import ProductFactory, StaffFactory, UserFactory


@pytest.fixture
def customer(db):
    return UserFactory(username="carol")


@pytest.fixture
def staff(db):
    return StaffFactory(username="sam")


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def customer_client(customer) -> APIClient:
    return bearer_client(customer)


@pytest.fixture
def staff_client(staff) -> APIClient:
    return bearer_client(staff)


@pytest.fixture
def product(db):
    return ProductFactory(sku="MUG-001", name="Blue mug", inventory__on_hand=5)
