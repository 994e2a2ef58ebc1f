"""Issue and decode RS256 tokens; pure functions over keys, no Django."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from servicekit.web.jwt.keys import SigningKey

ALGORITHM = "RS256"
ACCESS = "access"
REFRESH = "refresh"


class TokenError(Exception):
    """The token is malformed, expired, of the wrong type or signed by an unknown key."""


class KeySetUnavailable(LookupError):
    """Raised by a key lookup that could not read the key set in time: the kid may well be valid."""


class KeySetStale(KeySetUnavailable):
    """The kid is not in a key set read before this lookup, and no new read is allowed yet.

    `as_of` (epoch seconds) is when that set was read; `retry_after` when a read is allowed again.
    A token issued well before `as_of` would have its key in the set (issuers publish a key
    before signing with it), so it is refused; a newer one may be signed by a key published
    since (a rotation) and is not known to be bad."""

    def __init__(self, message: str, *, as_of: float, retry_after: int):
        super().__init__(message)
        self.as_of = as_of
        self.retry_after = retry_after


class VerifierUnavailable(Exception):
    """The token could not be checked (its key set is out of reach): a 503 to retry, not a 401.

    After a key rotation, a verifier meets the new key id and fetches the JWKS; if that fetch is
    slow or failing, the caller's token is not known to be bad, and telling it so would make a
    correct client throw the token away."""

    code = "verifier_unavailable"

    def __init__(self, message: str, *, retry_after: int = 2):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class TokenPolicy:
    issuer: str
    audience: str
    access_ttl: int = 900
    refresh_ttl: int = 7 * 24 * 3600
    leeway: int = 30


def token_issue(
    *,
    key: SigningKey,
    policy: TokenPolicy,
    subject: str,
    token_type: str,
    claims: dict[str, Any] | None = None,
    now: float | None = None,
) -> str:
    issued = int(now if now is not None else time.time())
    ttl = policy.access_ttl if token_type == ACCESS else policy.refresh_ttl
    payload = {
        **(claims or {}),
        "iss": policy.issuer,
        "aud": policy.audience,
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl,
        "jti": uuid.uuid4().hex,
        "token_type": token_type,
    }
    return jwt.encode(payload, key.private_pem, algorithm=ALGORITHM, headers={"kid": key.kid})


def token_decode(
    token: str,
    *,
    policy: TokenPolicy,
    key_for_kid: Callable[[str], Any],
    expected_type: str = ACCESS,
) -> dict[str, Any]:
    """Verify signature, issuer, audience, expiry and type; `key_for_kid` maps a kid to a key."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenError(f"malformed token: {exc}") from exc
    if header.get("alg") != ALGORITHM:
        raise TokenError("token must be signed with RS256")
    kid = header.get("kid")
    if not kid:
        raise TokenError("token has no key id")
    try:
        key = key_for_kid(kid)
    except KeySetStale as exc:
        if _issued_at(token) < exc.as_of - policy.leeway:
            raise TokenError(f"unknown signing key {kid!r}") from exc
        raise VerifierUnavailable(
            f"key {kid!r} is newer than the signing keys read: try again shortly",
            retry_after=exc.retry_after,
        ) from exc
    except KeySetUnavailable as exc:
        raise VerifierUnavailable(
            f"the signing keys could not be read to check key {kid!r}: {exc}"
        ) from exc
    except LookupError as exc:
        raise TokenError(f"unknown signing key {kid!r}") from exc
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=policy.audience,
            issuer=policy.issuer,
            leeway=policy.leeway,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token has expired") from exc
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token: {exc}") from exc
    if claims.get("token_type") != expected_type:
        raise TokenError(f"expected a {expected_type} token")
    return claims


def _issued_at(token: str) -> float:
    """The token's `iat`, unverified (only to tell an old token from a new one); 0 if absent."""
    try:
        issued = jwt.decode(token, options={"verify_signature": False}).get("iat")
    except jwt.PyJWTError:
        return 0.0
    return float(issued) if isinstance(issued, int | float) else 0.0
