"""Read another service's staff export API page by page (backfills, handovers, reconciliation).

A source busy serving the shop answers slowly, times out now and then, or says 503/429 with
`Retry-After`; an operator command rides that out rather than giving up. Every call it makes is
safe to repeat (the reads, and the login, which only issues a token), so each is retried with the
one backoff (servicekit.web.backoff), waiting out a `Retry-After` up to `max_retry_after`.

How patient it is (`ExportPolicy`) is set per command (`--read-timeout`, `--connect-timeout`,
`--attempts`) or for every command by the environment: `EXPORT_READ_TIMEOUT` (seconds, default
30), `EXPORT_CONNECT_TIMEOUT` (2), `EXPORT_ATTEMPTS` (tries per call, default 5),
`EXPORT_MAX_RETRY_AFTER` (the longest `Retry-After` waited out, default 30).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from servicekit.web.discovery.registry import StaticRegistry
from servicekit.web.http_client import (
    RETRY_STATUSES,
    Response,
    ServiceClient,
    UpstreamError,
    make_breaker,
)

# 429 too: a rate-limited export asks us to wait, which a one-off operator command can do
EXPORT_RETRY_STATUSES = RETRY_STATUSES | {429}


class ExportError(RuntimeError):
    """The source refused or failed; the message says where to resume."""


@dataclass(frozen=True)
class ExportPolicy:
    """Timeouts and retries of a staff session on a source (every call is safe to repeat)."""

    connect_timeout: float = 2.0
    read_timeout: float = 30.0
    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: float | int | None
    ) -> ExportPolicy:
        """The defaults, then the environment (`EXPORT_*`), then `overrides` that are not None
        (a command's options)."""
        environ = os.environ if environ is None else environ
        raw = {  # each read by name, so .env.example can be checked against the code
            "connect_timeout": ("EXPORT_CONNECT_TIMEOUT", environ.get("EXPORT_CONNECT_TIMEOUT")),
            "read_timeout": ("EXPORT_READ_TIMEOUT", environ.get("EXPORT_READ_TIMEOUT")),
            "attempts": ("EXPORT_ATTEMPTS", environ.get("EXPORT_ATTEMPTS")),
            "max_retry_after": ("EXPORT_MAX_RETRY_AFTER", environ.get("EXPORT_MAX_RETRY_AFTER")),
        }
        values: dict[str, Any] = {}
        for name, (variable, value) in raw.items():
            if value:
                kind = int if name == "attempts" else float
                try:
                    values[name] = kind(value)
                except ValueError as exc:
                    raise ValueError(f"{variable}={value!r}: {exc}") from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        policy = dataclasses.replace(cls(), **values)
        if policy.attempts < 1 or policy.read_timeout <= 0 or policy.connect_timeout <= 0:
            raise ValueError(f"{policy}: attempts must be >= 1 and timeouts > 0")
        return policy


def add_export_arguments(parser) -> None:
    """The `ExportPolicy` options of a command that reads an export (defaults: `EXPORT_*`)."""
    parser.add_argument(
        "--read-timeout", type=float, help="seconds per answer (default $EXPORT_READ_TIMEOUT, 30)"
    )
    parser.add_argument(
        "--connect-timeout", type=float, help="seconds per connect ($EXPORT_CONNECT_TIMEOUT, 2)"
    )
    parser.add_argument(
        "--attempts", type=int, help="tries per call, with backoff ($EXPORT_ATTEMPTS, 5)"
    )


def export_policy(options: Mapping[str, Any]) -> ExportPolicy:
    """The policy a command's options (from `add_export_arguments`) and the environment give."""
    return ExportPolicy.from_env(
        read_timeout=options.get("read_timeout"),
        connect_timeout=options.get("connect_timeout"),
        attempts=options.get("attempts"),
    )


def _client(name: str, url: str, policy: ExportPolicy) -> ServiceClient:
    return ServiceClient(
        name,
        registry=StaticRegistry({name: [url]}),
        connect_timeout=policy.connect_timeout,
        read_timeout=policy.read_timeout,
        attempts=policy.attempts,
        backoff=policy.backoff,
        max_backoff=policy.max_backoff,
        retry_statuses=EXPORT_RETRY_STATUSES,
        max_retry_after=policy.max_retry_after,
        # one command, one source: the retries above are its patience; a breaker that opened
        # would only refuse the next call early
        breaker=make_breaker(name, fail_max=10**9, reset_timeout=1),
    )


class ExportSource:
    """A staff session on one service: log in once, then page through an export endpoint."""

    def __init__(self, base_url: str, *, token: str = "", policy: ExportPolicy | None = None):
        self.base_url = base_url.rstrip("/")
        self.policy = policy or ExportPolicy.from_env()
        self.client = _client("export-source", self.base_url, self.policy)
        self.token = token

    def login(self, *, username: str, password: str, token_url: str) -> None:
        """`token_url` is the identity provider's token endpoint (the monolith's today)."""
        if not password:
            raise ExportError(f"no password for {username}: give a token or a password")
        issuer = _client("identity", token_url, self.policy)
        try:
            # safe to repeat: a login only issues a token
            response = issuer.post(
                "", json={"username": username, "password": password}, retry=True
            )
        except UpstreamError as exc:
            raise ExportError(f"login as {username} at {token_url} failed: {exc}") from exc
        if response.status != 200:
            raise ExportError(
                f"login as {username} failed: {response.status} {response.data[:200]!r}"
            )
        self.token = response.json()["access"]

    def _get(self, path: str, after: str) -> Response:
        try:
            return self.client.get(path, headers={"Authorization": f"Bearer {self.token}"})
        except UpstreamError as exc:
            raise ExportError(f"{self.base_url}{path} failed after {after!r}: {exc}") from exc

    def pages(self, path: str, *, after: str = "", limit: int = 200) -> Iterator[dict[str, Any]]:
        while True:
            query = urlencode({"after": after, "limit": limit})
            response = self._get(f"{path}?{query}", after)
            if response.status != 200:
                raise ExportError(
                    f"{self.base_url}{path} answered {response.status}: {response.data[:200]!r}"
                )
            page = response.json()
            yield page
            if not page.get("next_after"):
                return
            after = page["next_after"]
