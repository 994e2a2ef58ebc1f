"""The storefront as a browser sees it: the CSRF token of a page, a login."""

from __future__ import annotations

import re

from tests.monolith.factories import PASSWORD


def csrf_token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


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
