"""API clients for the monolith's tests."""

from __future__ import annotations

from rest_framework.test import APIClient

from monolith.users.services import token_pair_issue


def bearer_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer " + token_pair_issue(user=user)["access"])
    return client
