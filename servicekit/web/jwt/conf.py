"""`SERVICEKIT_JWT` settings, read lazily (never at import) and rebuilt when tests override them."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from servicekit.web.jwt.keyring import KeyRing, RingState
from servicekit.web.jwt.keys import SigningKey, load_or_create_signing_key
from servicekit.web.jwt.tokens import TokenPolicy
from servicekit.web.jwt.verifiers import JwksKeys, LocalKeys

DEFAULTS: dict[str, Any] = {
    "ISSUER": "strangler",
    "AUDIENCE": "strangler",
    "ACCESS_TTL": 900,
    "REFRESH_TTL": 7 * 24 * 3600,
    "PRIVATE_KEY_PEM": None,
    "PRIVATE_KEY_PATH": None,
    # A key ring folder (servicekit.web.jwt.keyring): when set, the service signs with its active
    # key and trusts every published one; PRIVATE_KEY_PEM / an existing PRIVATE_KEY_PATH seed it.
    "KEYS_DIR": None,
    "JWKS_URL": None,
    "USER_RESOLVER": "servicekit.web.jwt.authentication.token_user",
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


def max_token_lifetime() -> int:
    """How long a key must stay published after it stops signing."""
    policy = token_policy()
    return max(policy.access_ttl, policy.refresh_ttl) + policy.leeway


@functools.cache
def key_ring() -> KeyRing | None:
    folder = jwt_setting("KEYS_DIR")
    return KeyRing(folder) if folder else None


def _seed_pem() -> bytes | None:
    pem, path = jwt_setting("PRIVATE_KEY_PEM"), jwt_setting("PRIVATE_KEY_PATH")
    if pem:
        return pem.encode()
    if path and Path(path).exists():
        return Path(path).read_bytes()
    return None


@functools.cache
def _seeded() -> bool:
    ring = key_ring()
    assert ring is not None
    ring.ensure(seed_pem=_seed_pem(), lifetime=max_token_lifetime())
    return True


def ring_state() -> RingState:
    """The key ring as it is now (re-read when another process rotated it)."""
    ring = key_ring()
    if ring is None:
        raise LookupError("no KEYS_DIR: this service has a single signing key")
    _seeded()
    return ring.state()


@functools.cache
def _single_key() -> SigningKey:
    path = jwt_setting("PRIVATE_KEY_PATH")
    pem = jwt_setting("PRIVATE_KEY_PEM")
    if not pem and not path:
        raise LookupError("this service issues no tokens (no PRIVATE_KEY_PEM/PRIVATE_KEY_PATH)")
    return load_or_create_signing_key(pem=pem, path=Path(path or ""))


def signing_key() -> SigningKey:
    """Only an issuer has one (the ring's active key, or its single key); a verifier-only
    service configures `JWKS_URL` instead."""
    if key_ring() is not None:
        return ring_state().active
    return _single_key()


def issuer_keys() -> list[SigningKey]:
    """Every key this issuer publishes and accepts: the active one first."""
    if key_ring() is not None:
        return list(ring_state().keys)
    return [_single_key()]


def _local_resolver(kid: str) -> Any:
    if key_ring() is not None:
        return ring_state().resolver(kid)
    return _single_local_keys()(kid)


@functools.cache
def _single_local_keys() -> LocalKeys:
    return LocalKeys([_single_key()])


def local_key_resolver():
    """kid -> public key over this issuer's own keys (no HTTP call to its own JWKS)."""
    return _local_resolver


@functools.cache
def key_resolver():
    url = jwt_setting("JWKS_URL")
    if url:
        return JwksKeys(url)
    return local_key_resolver()


@functools.cache
def user_resolver():
    return import_string(jwt_setting("USER_RESOLVER"))


@receiver(setting_changed)
def _reset(*, setting: str, **_kwargs: Any) -> None:
    if setting == "SERVICEKIT_JWT":
        for cached in (
            token_policy,
            key_ring,
            _seeded,
            _single_key,
            _single_local_keys,
            key_resolver,
            user_resolver,
        ):
            cached.cache_clear()
