"""Where one request goes: a pure function of the route table, the method, path and user."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from strangler_proxy.routes.model import Route, RouteTable

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Decision:
    """Where one request goes: `target` serves it, `shadow_to` gets a copy, `fallback` on failure."""

    route: Route | None
    target: str
    side: str = "primary"  # primary | candidate
    fallback: str | None = None
    shadow_to: str | None = None

    @property
    def route_name(self) -> str:
        return self.route.name if self.route else "-"


CANARY_HEADER = "X-Strangler-Canary"  # "candidate" or "primary": testers pick a side


def canary_bucket(route_name: str, sticky_key: str) -> float:
    """A stable point in [0, 100) per (route, user): raising the percent never moves a user back."""
    digest = hashlib.blake2b(f"{route_name}\0{sticky_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10000 / 100.0


def resolve(
    table: RouteTable,
    *,
    method: str,
    path: str,
    sticky_key: str | None = None,
    override: str | None = None,
) -> Decision:
    """First route in file order that matches wins; anything unmatched goes to the default."""
    for route in table.routes:
        if route.matches(method, path):
            return _decide(table, route, method, sticky_key, override)
    return Decision(route=None, target=table.default_upstream)


def _decide(
    table: RouteTable, route: Route, method: str, sticky_key: str | None, override: str | None
) -> Decision:
    primary = table.default_upstream
    if route.mode == "monolith":  # `upstream` names the candidate a later flip will use
        return Decision(route=route, target=primary)
    candidate = route.upstream or primary
    if route.mode == "extracted":
        return Decision(route=route, target=candidate, side="candidate", fallback=route.fallback)
    if route.mode == "shadow":
        # writes are never copied: the candidate would commit them a second time
        shadow = method not in WRITES and not route.sensitive
        return Decision(route=route, target=primary, shadow_to=candidate if shadow else None)
    # canary
    if route.canary_header and override in ("candidate", "primary"):
        to_candidate = override == "candidate"
    elif sticky_key is None:
        to_candidate = False
    else:
        to_candidate = canary_bucket(route.name, sticky_key) < route.percent
    if to_candidate:
        return Decision(route=route, target=candidate, side="candidate", fallback=route.fallback)
    return Decision(route=route, target=primary)
