"""Fixtures for the monolith's tests: users, tokens and API clients."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from monolith.users.services import token_pair_issue
from tests.monolith.factories import ProductFactory, StaffFactory, UserFactory


@pytest.fixture
def customer(db):
    return UserFactory(username="carol")


@pytest.fixture
def staff(db):
    return StaffFactory(username="sam")


def bearer_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer " + token_pair_issue(user=user)["access"])
    return client


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


def assert_problem(response, status: int, code: str) -> dict:
    """The response is RFC 9457 problem+json with this status and code."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"].endswith(code)
    assert body["title"] and body["detail"]
    return body
