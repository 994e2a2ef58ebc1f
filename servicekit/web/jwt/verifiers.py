"""Where a service finds public keys: its own signing keys, or a JWKS URL (cached, refreshed on unknown kid)."""

from __future__ import annotations

import threading
import time
from typing import Any

import jwt
import requests

from servicekit.web.jwt.keys import SigningKey


class LocalKeys:
    """Keys held in process, for the issuer itself (no HTTP call to its own JWKS)."""

    def __init__(self, keys: list[SigningKey]):
        self._by_kid = {k.kid: k.public_key for k in keys}

    def __call__(self, kid: str) -> Any:
        try:
            return self._by_kid[kid]
        except KeyError:
            raise LookupError(kid) from None


class JwksKeys:
    """Public keys fetched from a JWKS URL; refetched at most every `min_refresh` seconds on a miss."""

    def __init__(
        self, url: str, *, timeout: float = 3.0, max_age: int = 300, min_refresh: int = 10
    ):
        self.url = url
        self.timeout = timeout
        self.max_age = max_age
        self.min_refresh = min_refresh
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        response = requests.get(self.url, timeout=self.timeout)
        response.raise_for_status()
        keys = {}
        for jwk in response.json().get("keys", []):
            if jwk.get("kty") == "RSA" and jwk.get("kid"):
                keys[jwk["kid"]] = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
        self._keys = keys
        self._fetched_at = time.monotonic()

    def __call__(self, kid: str) -> Any:
        age = time.monotonic() - self._fetched_at
        if kid in self._keys and age < self.max_age:
            return self._keys[kid]
        with self._lock:
            age = time.monotonic() - self._fetched_at
            if (kid not in self._keys and age >= self.min_refresh) or age >= self.max_age:
                try:
                    self._fetch()
                except (requests.RequestException, ValueError) as exc:
                    if kid not in self._keys:
                        raise LookupError(f"{kid}: JWKS unavailable ({exc})") from exc
        try:
            return self._keys[kid]
        except KeyError:
            raise LookupError(kid) from None
