"""A browser for the storefront: Django's test client with CSRF checks on, and a login."""

import re

import pytest
from django.test import Client

from tests.monolith.factories import PASSWORD


def csrf_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


def login(browser, user) -> None:
    page = browser.get("/accounts/login/")
    response = browser.post(
        "/accounts/login/",
        {
            "username": user.username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": csrf_token(page.content.decode()),
        },
    )
    assert response.status_code == 302, response.content
