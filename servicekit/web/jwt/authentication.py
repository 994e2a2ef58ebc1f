"""DRF authentication by `Authorization: Bearer <RS256 JWT>`, verified by this service itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rest_framework import authentication, exceptions

from servicekit.web.jwt.conf import key_resolver, token_policy, user_resolver
from servicekit.web.jwt.tokens import ACCESS, TokenError, VerifierUnavailable, token_decode


@dataclass
class TokenUser:
    """The caller as the token describes it, for services that hold no user table."""

    id: int
    username: str
    is_staff: bool = False
    claims: dict[str, Any] = field(default_factory=dict)
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False

    @property
    def pk(self) -> int:
        return self.id


def token_user(claims: dict[str, Any]) -> TokenUser:
    return TokenUser(
        id=int(claims["sub"]),
        username=str(claims.get("username", "")),
        is_staff=bool(claims.get("is_staff", False)),
        claims=claims,
    )


def verify_access_token(token: str) -> dict[str, Any]:
    return token_decode(
        token, policy=token_policy(), key_for_kid=key_resolver(), expected_type=ACCESS
    )


class JWTAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        try:
            claims = verify_access_token(header[1].decode("ascii"))
        except VerifierUnavailable as exc:
            # Imported here: DRF loads this class while its settings (and our errors) load.
            from servicekit.web.errors import UnavailableError

            unavailable = UnavailableError(exc.message, code=exc.code)
            unavailable.retry_after = exc.retry_after
            raise unavailable from exc
        except (TokenError, UnicodeDecodeError) as exc:
            raise exceptions.AuthenticationFailed(str(exc), code="invalid_token") from exc
        user = user_resolver()(claims)
        if user is None or not getattr(user, "is_active", True):
            raise exceptions.AuthenticationFailed(
                "user is unknown or inactive", code="invalid_token"
            )
        return user, claims

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'
