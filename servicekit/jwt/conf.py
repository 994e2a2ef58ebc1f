"""`SERVICEKIT_JWT` settings, read lazily (never at import) and rebuilt when tests override them."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from servicekit.jwt.keys import SigningKey, load_or_create_signing_key
from servicekit.jwt.tokens import TokenPolicy
from servicekit.jwt.verifiers import JwksKeys, LocalKeys

DEFAULTS: dict[str, Any] = {
    "ISSUER": "strangler",
    "AUDIENCE": "strangler",
    "ACCESS_TTL": 900,
    "REFRESH_TTL": 7 * 24 * 3600,
    "PRIVATE_KEY_PEM": None,
    "PRIVATE_KEY_PATH": None,
    "JWKS_URL": None,
    "USER_RESOLVER": "servicekit.jwt.authentication.token_user",
}


def jwt_setting(name: str) -> Any:
    return {**DEFAULTS, **getattr(settings, "SERVICEKIT_JWT", {})}[name]


@functools.cache
def token_policy() -> TokenPolicy:
    return TokenPolicy(
        issuer=jwt_setting("ISSUER"),
        audience=jwt_setting("AUDIENCE"),
        access_ttl=int(jwt_setting("ACCESS_TTL")),
        refresh_ttl=int(jwt_setting("REFRESH_TTL")),
    )


@functools.cache
def signing_key() -> SigningKey:
    """Only the issuer has one; a verifier-only service configures `JWKS_URL` instead."""
    path = jwt_setting("PRIVATE_KEY_PATH")
    pem = jwt_setting("PRIVATE_KEY_PEM")
    if not pem and not path:
        raise LookupError("this service issues no tokens (no PRIVATE_KEY_PEM/PRIVATE_KEY_PATH)")
    return load_or_create_signing_key(pem=pem, path=Path(path or ""))


@functools.cache
def key_resolver():
    url = jwt_setting("JWKS_URL")
    if url:
        return JwksKeys(url)
    return LocalKeys([signing_key()])


@functools.cache
def user_resolver():
    return import_string(jwt_setting("USER_RESOLVER"))


@receiver(setting_changed)
def _reset(*, setting: str, **_kwargs: Any) -> None:
    if setting == "SERVICEKIT_JWT":
        for cached in (token_policy, signing_key, key_resolver, user_resolver):
            cached.cache_clear()
