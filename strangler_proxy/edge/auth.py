"""Auth at the edge: RS256 JWTs checked against the issuer's JWKS (STRANGLER_JWKS_URL: the monolith or
the users service, which publish the same key ring); admin by token or staff JWT."""

from __future__ import annotations

import hmac
from typing import Any

import jwt

from servicekit.web.jwt.tokens import (
    ACCESS,
    TokenError,
    TokenPolicy,
    VerifierUnavailable,
    token_decode,
)
from servicekit.web.jwt.verifiers import JwksKeys


class EdgeAuth:
    """Verifies `Authorization: Bearer` tokens; the JWKS is cached and refetched on an unknown kid."""

    def __init__(self, *, jwks_url: str, issuer: str, audience: str, admin_token: str = ""):
        self.keys = JwksKeys(jwks_url)
        self.policy = TokenPolicy(issuer=issuer, audience=audience)
        self.admin_token = admin_token

    @staticmethod
    def bearer(header: str | None) -> str | None:
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()

    def verify(self, header: str | None) -> dict[str, Any]:
        """Claims of a valid access token; raises TokenError otherwise."""
        token = self.bearer(header)
        if token is None:
            raise TokenError("a Bearer token is required")
        return token_decode(token, policy=self.policy, key_for_kid=self.keys, expected_type=ACCESS)

    def is_admin(self, header: str | None) -> bool:
        token = self.bearer(header)
        if token is None:
            return False
        if self.admin_token and hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return True
        try:
            return bool(self.verify(header).get("is_staff"))
        except (TokenError, VerifierUnavailable):
            return False


def unverified_subject(header: str | None) -> str | None:
    """The token's `sub` without checking it: only for canary stickiness, never for access."""
    token = EdgeAuth.bearer(header)
    if token is None:
        return None
    try:
        sub = jwt.decode(token, options={"verify_signature": False}).get("sub")
    except jwt.PyJWTError:
        return None
    return str(sub) if sub is not None else None
