"""API clients with bearer tokens signed by the test process's own key (services under test
verify locally instead of fetching a JWKS)."""

from __future__ import annotations

from pathlib import Path

from rest_framework.test import APIClient

from servicekit.web.jwt.conf import signing_key, token_policy
from servicekit.web.jwt.tokens import ACCESS, token_issue


def sign_locally(settings, tmp_path: Path) -> None:
    """Point SERVICEKIT_JWT at a throwaway key in `tmp_path` (call from an autouse fixture)."""
    settings.SERVICEKIT_JWT = {
        **settings.SERVICEKIT_JWT,
        "JWKS_URL": None,
        "PRIVATE_KEY_PATH": str(tmp_path / "test-key.pem"),
    }


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def client_for(user_id: int, *, staff: bool = False) -> APIClient:
    return bearer(
        token_issue(
            key=signing_key(),
            policy=token_policy(),
            subject=str(user_id),
            token_type=ACCESS,
            claims={"username": f"user{user_id}", "is_staff": staff},
        )
    )
