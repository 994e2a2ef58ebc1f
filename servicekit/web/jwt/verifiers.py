"""Where a service finds public keys: its own signing keys, or a JWKS URL (cached, one fetch at a time)."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import jwt
import requests

from servicekit.web import cooperative
from servicekit.web.backoff import backoff_delay
from servicekit.web.jwt.keys import SigningKey
from servicekit.web.jwt.tokens import KeySetStale, KeySetUnavailable
from servicekit.web.tls import requests_session


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
    """Public keys fetched from a JWKS URL, with at most one fetch in flight per process.

    - A known key is served from the cache; once the cache is older than `max_age`, it is still
      served while one background fetch refreshes it (no request waits on the JWKS host).
    - An unknown kid triggers a fetch at most every `min_refresh` seconds; concurrent lookups
      wait for that one fetch (never longer than `timeout`) instead of starting their own.
      Only a set read after the lookup began proves a kid unknown (LookupError); one read before
      it (a fetch allowed no sooner, or already under way) may predate a rotation: KeySetStale
      says when it was read and when to retry, and the token's age decides (token_decode).
    - A failed fetch keeps the keys we have and is remembered: no new attempt before a backoff
      (servicekit.web.backoff, growing with consecutive failures, capped at `max_backoff`).
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 3.0,
        max_age: int = 300,
        min_refresh: int = 10,
        max_backoff: float = 60.0,
    ):
        self.url = url
        self.timeout = timeout
        self.max_age = max_age
        self.min_refresh = min_refresh
        self.max_backoff = max_backoff
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")  # last successful fetch (when it ended)
        self._read_from = float("-inf")  # when the download of the set we hold began
        self._read_from_wall = 0.0  # the same, in epoch seconds
        self._attempted_at = float("-inf")  # last attempt, successful or not
        self._failures = 0
        self._retry_at = float("-inf")  # no attempt before this after a failure
        self._lock = threading.Lock()
        self._in_flight: threading.Event | None = None
        self.last_error: str | None = None

    def _download(self) -> dict[str, Any]:
        # under mTLS (servicekit.web.tls) with this process's certificate and the fleet's CA
        with requests_session() as session:
            response = session.get(self.url, timeout=self.timeout)
        response.raise_for_status()
        keys = {}
        for jwk in response.json().get("keys", []):
            if jwk.get("kty") == "RSA" and jwk.get("kid"):
                keys[jwk["kid"]] = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
        return keys

    def _start_fetch(self, now: float) -> threading.Event | None:
        """Under the lock: become the one fetcher, or None if a fetch may not start now."""
        if self._in_flight is not None:
            return None
        if now < self._retry_at:
            return None
        self._in_flight = threading.Event()
        self._attempted_at = now
        return self._in_flight

    def _fetch(self, done: threading.Event) -> None:
        began, began_wall = time.monotonic(), time.time()
        try:
            keys = self._download()
        except (requests.RequestException, ValueError) as exc:
            with self._lock:
                self._failures += 1
                pause = max(
                    self.min_refresh,
                    backoff_delay(
                        self._failures, base=self.min_refresh or 1.0, cap=self.max_backoff
                    ),
                )
                self._retry_at = time.monotonic() + pause
                self.last_error = str(exc)
        else:
            with self._lock:
                self._keys = keys
                self._fetched_at = time.monotonic()
                self._read_from, self._read_from_wall = began, began_wall
                self._failures = 0
                self._retry_at = float("-inf")
                self.last_error = None
        finally:
            with self._lock:
                self._in_flight = None
            done.set()

    def __call__(self, kid: str) -> Any:
        now = time.monotonic()
        key = self._keys.get(kid)
        if key is not None:
            if now - self._fetched_at >= self.max_age:
                with self._lock:
                    done = self._start_fetch(now)
                if done is not None:  # refresh behind the request, which goes on with the key
                    threading.Thread(target=self._fetch, args=(done,), daemon=True).start()
            return key
        with self._lock:
            waiting = self._in_flight
            done = None
            if waiting is None and now - self._attempted_at >= self.min_refresh:
                done = self._start_fetch(now)
        # (under servicekit.web.cooperative.run both leave the event loop's thread: a request
        # waiting there for another's fetch would keep that fetch from finishing)
        if done is not None:
            cooperative.blocking(self._fetch, done)
        elif waiting is not None:
            # The fetch's own timeouts bound it (connect, then read): wait out both.
            cooperative.blocking(waiting.wait, 2 * self.timeout)
        key = self._keys.get(kid)
        if key is None:
            if self._in_flight is not None:
                raise KeySetUnavailable(f"{kid} (JWKS fetch still running)")
            if self.last_error:
                raise KeySetUnavailable(f"{kid} (JWKS unavailable: {self.last_error})")
            if self._read_from < now:
                allowed = max(self._attempted_at + self.min_refresh, self._retry_at)
                raise KeySetStale(
                    f"{kid} (not in the JWKS read before this lookup)",
                    as_of=self._read_from_wall,
                    retry_after=max(1, math.ceil(allowed - time.monotonic())),
                )
            raise LookupError(kid)
        return key
