"""Read another service's staff export API page by page (backfills, handovers, reconciliation)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from servicekit.web.discovery.registry import StaticRegistry
from servicekit.web.http_client import ServiceClient, UpstreamError


class ExportError(RuntimeError):
    """The source refused or failed; the message says where to resume."""


class ExportSource:
    """A staff session on one service: log in once, then page through an export endpoint."""

    def __init__(self, base_url: str, *, token: str = "", read_timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.client = ServiceClient(
            "export-source",
            registry=StaticRegistry({"export-source": [self.base_url]}),
            read_timeout=read_timeout,
        )
        self.token = token

    def login(self, *, username: str, password: str, token_url: str) -> None:
        """`token_url` is the identity provider's token endpoint (the monolith's today)."""
        if not password:
            raise ExportError(f"no password for {username}: give a token or a password")
        issuer = ServiceClient("identity", registry=StaticRegistry({"identity": [token_url]}))
        response = issuer.post("", json={"username": username, "password": password})
        if response.status != 200:
            raise ExportError(
                f"login as {username} failed: {response.status} {response.data[:200]!r}"
            )
        self.token = response.json()["access"]

    def pages(self, path: str, *, after: str = "", limit: int = 200) -> Iterator[dict[str, Any]]:
        while True:
            query = urlencode({"after": after, "limit": limit})
            try:
                response = self.client.get(
                    f"{path}?{query}", headers={"Authorization": f"Bearer {self.token}"}
                )
            except UpstreamError as exc:
                raise ExportError(f"{self.base_url}{path} failed after {after!r}: {exc}") from exc
            if response.status != 200:
                raise ExportError(
                    f"{self.base_url}{path} answered {response.status}: {response.data[:200]!r}"
                )
            page = response.json()
            yield page
            if not page.get("next_after"):
                return
            after = page["next_after"]
