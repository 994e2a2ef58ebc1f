"""Where one request goes: a pure function of the route table, the method, path and user."""

from __future__ import annotations

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


def murmur2(data: bytes) -> int:
    """nginx's `ngx_murmur_hash2` (MurmurHash2, seed 0), the hash its `split_clients` uses:
    the Python proxy and the exported nginx plane put a user on the same side of a canary."""
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    length = len(data)
    h = length
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    tail = data[length - length % 4 :]
    if tail:
        for i in reversed(range(len(tail))):
            h ^= tail[i] << (8 * i)
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    return h ^ (h >> 15)


def sticky_input(route_name: str, sticky_key: str) -> str:
    """The string hashed per (route, user); nginx: `split_clients "<route>:$strangler_sticky"`."""
    return f"{route_name}:{sticky_key}"


def canary_hundredths(percent: float) -> int:
    """A route's percent as nginx's split_clients reads it: hundredths of a percent."""
    return max(0, min(10000, round(percent * 100)))


def canary_bucket(route_name: str, sticky_key: str) -> float:
    """A stable point in [0, 100) per (route, user): raising the percent never moves a user back."""
    return murmur2(sticky_input(route_name, sticky_key).encode()) * 100 / 2**32


def in_canary(route_name: str, sticky_key: str, percent: float) -> bool:
    """Exactly nginx's split_clients rule (hash < percent's share of 0xffffffff), so that a user
    sees the same side on both planes; 0 and 100 are never and always."""
    part = canary_hundredths(percent)
    if part <= 0:
        return False
    if part >= 10000:
        return True
    cut = part * 0xFFFFFFFF // 10000
    return murmur2(sticky_input(route_name, sticky_key).encode()) < cut


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
        to_candidate = in_canary(route.name, sticky_key, route.percent)
    if to_candidate:
        return Decision(route=route, target=candidate, side="candidate", fallback=route.fallback)
    return Decision(route=route, target=primary)
