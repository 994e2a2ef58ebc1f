"""Fixtures for the storefront: Django's test client with CSRF checks on."""

import pytest
from django.test import Client


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)
