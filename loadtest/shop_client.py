"""A well-behaved shop client, for the load (`make load`) and the migration tests.

`ShopClient` talks to the shop (through the proxy) as a correct client does: it logs in for
tokens (/api/v1/auth), renews them before they expire (refresh token, else a new login), honours
`Retry-After` on 503 and 429 by waiting and sending the same request again (same
Idempotency-Key), and retries a request that may be retried after a connection error or a 5xx.

Every answer goes to an `AnswerLog` under the phase the caller is in, with its latency and
whether the client's user would have seen it as an error (`visible`): a 5xx, a connection error,
a 4xx a correct client could not have avoided, or a 503/429 still answered after the client
honoured `Retry-After` `patience` times in a row. The client is plain `requests` in one thread,
so a Locust user (under gevent) or a test's thread drives it alike.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
import requests

from servicekit.web.http_client import retry_after_seconds

# 503 owner_moving asks for 1-2 s; a write freeze of a handover lasts a few seconds, and an
# operator's own freeze longer: chapter 07 freezes `order` across two takeovers, 6 waits of 2 s
# on an idle 2-core machine, 11 when four test runs share it. A client still asked to wait
# after this many honoured Retry-After for one request has been let down: that answer counts as
# a visible error. Generous, so a busy machine does not fail a test; what it catches is a 503
# that never ends or names no Retry-After (callers report `longest_wait`, the freeze a client felt).
DEFAULT_PATIENCE = 30
MAX_WAIT = 5.0  # never sleep longer than this for one Retry-After
RENEW_BEFORE = 0.3  # renew a token when less than this share of its lifetime is left


@dataclass
class Answer:
    phase: str
    client: str
    what: str  # "GET /api/v1/products/{sku}/": the path template, not the ids
    status: int | None  # None: no answer (connection error, timeout)
    seconds: float
    visible: bool
    note: str = ""
    size: int = 0  # bytes of the body; 0 without an answer


class AnswerLog(Protocol):
    """Where a client's answers go: the tests' `Recorder` (a table per phase), or Locust's
    statistics (loadtest/locustfile.py). `phase` names the step the caller is in."""

    phase: str

    def add(self, answer: Answer) -> None: ...


class ClientGaveUp(Exception):
    """The request did not get a usable answer (already recorded as a visible error)."""


_counter = itertools.count(1)


def unique_name(prefix: str) -> str:
    return f"{prefix}{next(_counter)}{uuid.uuid4().hex[:6]}"


class ShopClient:
    """One user of the shop. `expect` names the 4xx statuses a call may meet as a normal
    answer (e.g. 409 for an order the shelf cannot fill); any other 4xx is a visible error."""

    def __init__(
        self,
        base_url: str,
        recorder: AnswerLog,
        *,
        name: str,
        patience: int = DEFAULT_PATIENCE,
        timeout: float = 30.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.recorder = recorder
        self.name = name
        self.patience = patience
        self.timeout = timeout
        self.session = requests.Session()
        self.username = ""
        self.password = ""
        self.access = ""
        self.refresh = ""
        self._expires_at = 0.0
        self._lifetime = 0.0
        self.renewals = 0
        self.longest_wait = 0  # the most Retry-After waits one request needed

    # --- the HTTP loop -----------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        expect: Iterable[int] = (),
        retry: bool | None = None,
    ) -> requests.Response:
        """Send until a usable answer: 2xx, or a 4xx in `expect`. Raises ClientGaveUp when none
        came (every answer along the way is recorded)."""
        what = f"{method} {what or path}"
        headers = dict(headers or {})
        if retry is None:
            retry = method in ("GET", "HEAD", "PUT", "DELETE") or "Idempotency-Key" in headers
        expected = set(expect)
        waits = failures = 0
        while True:
            if auth:
                self.ensure_token()
                headers["Authorization"] = f"Bearer {self.access}"
            started = time.monotonic()
            phase = self.recorder.phase
            try:
                response = self.session.request(
                    method, self.base_url + path, json=json, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                self._record(phase, what, None, started, True, type(exc).__name__)
                failures += 1
                if not retry or failures > 3:
                    raise ClientGaveUp(f"{what}: {exc!r}") from exc
                time.sleep(0.5)
                continue
            status = response.status_code
            size = len(response.content)
            if status in (429, 503):
                asked = retry_after_seconds(response.headers.get("Retry-After"))
                waits += 1
                self.longest_wait = max(self.longest_wait, waits)
                if asked is not None and waits <= self.patience:
                    self._record(phase, what, status, started, False, _code(response), size=size)
                    time.sleep(min(max(asked, 0.1), MAX_WAIT))
                    continue
                note = "no Retry-After" if asked is None else f"still after {waits - 1} waits"
                self._record(
                    phase, what, status, started, True, f"{_code(response)} {note}", size=size
                )
                raise ClientGaveUp(f"{what}: {status} {note}")
            if status == 401 and auth and self._expired():
                # The token ran out in flight: renewing is what a correct client does.
                self._record(phase, what, status, started, False, "token expired", size=size)
                self.renew()
                continue
            if status < 400 or status in expected:
                self._record(phase, what, status, started, False, size=size)
                return response
            self._record(phase, what, status, started, True, _code(response), size=size)
            failures += 1
            if status >= 500 and retry and failures <= 3:
                time.sleep(0.5)
                continue
            raise ClientGaveUp(f"{what}: {status} {response.text[:300]}")

    def _record(self, phase, what, status, started, visible, note="", *, size=0) -> None:
        seconds = time.monotonic() - started
        self.recorder.add(Answer(phase, self.name, what, status, seconds, visible, note, size))

    # --- tokens --------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> None:
        self.username, self.password = username, password
        pair = self.call(
            "POST",
            "/api/v1/auth/token",
            json={"username": username, "password": password},
            auth=False,
            retry=True,
        ).json()
        self._take(pair["access"], pair.get("refresh", self.refresh))

    def renew(self) -> None:
        """A new access token from the refresh token; a new login when that is refused."""
        self.renewals += 1
        if self.refresh:
            response = self.call(
                "POST",
                "/api/v1/auth/token/refresh",
                json={"refresh": self.refresh},
                auth=False,
                retry=True,
                expect=(401,),
            )
            if response.status_code == 200:
                self._take(response.json()["access"], self.refresh)
                return
        self.login(self.username, self.password)

    def ensure_token(self) -> None:
        if self.access and time.time() < self._expires_at - RENEW_BEFORE * self._lifetime:
            return
        if self.access:
            self.renew()
        elif self.username:
            self.login(self.username, self.password)

    def _take(self, access: str, refresh: str) -> None:
        claims = jwt.decode(access, options={"verify_signature": False})
        self.access, self.refresh = access, refresh
        self._expires_at = float(claims["exp"])
        self._lifetime = max(1.0, float(claims["exp"]) - float(claims.get("iat", time.time())))

    def _expired(self) -> bool:
        return time.time() >= self._expires_at - 1

    # --- the shop ------------------------------------------------------------------------------

    def register(self, prefix: str = "load") -> dict:
        username = unique_name(prefix)
        # Nothing of the username in it: Django's similarity validator refuses a password that
        # shares enough characters with the username or the email (about 2 in 100 did).
        password = f"Pw-{uuid.uuid4().hex}"
        user = self.call(
            "POST",
            "/api/v1/users/",
            json={"username": username, "email": f"{username}@example.com", "password": password},
            auth=False,
            # a retried sign-up whose first try landed answers 400 "username taken": that
            # first try was a visible error already
            retry=False,
        ).json()
        self.login(username, password)
        return user

    def browse(self, *, page: int, sku: str) -> None:
        self.call(
            "GET", f"/api/v1/products/?page={page}", what="/api/v1/products/?page=", auth=False
        )
        self.call("GET", f"/api/v1/products/{sku}/", what="/api/v1/products/{sku}/", auth=False)
        self.call("GET", "/api/v1/categories/", auth=False)

    def order_place(self, lines: list[dict], *, key: str) -> requests.Response:
        """201 (placed, or replayed with the same key), or 409 when the shelf is short."""
        return self.call(
            "POST",
            "/api/v1/orders/",
            json={"lines": lines},
            headers={"Idempotency-Key": key},
            expect=(409,),
        )

    def order_cancel(self, order_id: int) -> requests.Response:
        # Cancelling twice is a 409 (an illegal transition): the retry after a lost answer
        # may meet it, and then the order is cancelled, as asked.
        return self.call(
            "POST",
            f"/api/v1/orders/{order_id}/cancel/",
            what="/api/v1/orders/{id}/cancel/",
            retry=True,
            expect=(409,),
        )

    def orders(self) -> list[dict]:
        return self.pages("/api/v1/orders/")

    def pages(self, path: str, *, auth: bool = True) -> list[dict]:
        rows: list[dict] = []
        page = 1
        while True:
            sep = "&" if "?" in path else "?"
            body = self.call(
                "GET", f"{path}{sep}page={page}&page_size=100", what=path, auth=auth
            ).json()
            rows += body["results"]
            if not body.get("next"):
                return rows
            page += 1


def _code(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.headers.get("Content-Type", "")
    if not isinstance(body, dict):
        return ""
    # a validation error names its fields: "validation_error (password: password_too_similar)"
    fields = [
        f"{e.get('field')}: {e.get('code')}"
        for e in body.get("errors") or []
        if isinstance(e, dict)
    ]
    code = str(body.get("code", ""))
    return f"{code} ({', '.join(fields)})" if fields else code
