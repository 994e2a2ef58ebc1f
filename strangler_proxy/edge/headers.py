"""Pure header and path helpers: hop-by-hop removal, X-Forwarded-*, Host, Location, safety checks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit

# RFC 9110 section 7.6.1, plus the non-standard ones proxies still meet.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
_UNSAFE_VALUE = re.compile(r"[\r\n\x00]")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class UnsafeRequest(ValueError):
    """The request is refused at the edge (path traversal, header injection)."""


def connection_tokens(values: Iterable[str]) -> set[str]:
    """Header names listed in `Connection`, which are hop-by-hop for this one message."""
    return {t.strip().lower() for v in values for t in v.split(",") if t.strip()}


def meta_to_headers(meta: Mapping[str, object]) -> list[tuple[str, str]]:
    """Request headers from a WSGI environ, hop-by-hop ones removed; names in canonical case."""
    headers: list[tuple[str, str]] = []
    for key, value in meta.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if not value:
                continue
            name = key.replace("_", "-").title()
        else:
            continue
        headers.append((name, str(value)))
    return strip_hop_by_hop(headers)


def strip_hop_by_hop(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    headers = list(headers)
    named = connection_tokens(v for k, v in headers if k.lower() == "connection")
    return [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() not in named]


def check_headers(headers: Iterable[tuple[str, str]]) -> None:
    """Refuse CR, LF or NUL in a value and names that are not HTTP tokens (header injection)."""
    for name, value in headers:
        if not _TOKEN.match(name) or _UNSAFE_VALUE.search(value):
            raise UnsafeRequest(f"header {name[:40]!r} is not allowed")


def check_path(raw_path: str) -> None:
    """Refuse dot-segments (plain or percent-encoded), backslashes, NUL and encoded slashes."""
    path = raw_path.split("?", 1)[0]
    if not path.startswith("/"):
        raise UnsafeRequest("the request target must be an absolute path")
    decoded = path
    for _ in range(3):  # double and triple encoding (%252e) decode to dots too
        decoded = unquote(decoded)
    if "\\" in decoded or "\x00" in decoded or _UNSAFE_VALUE.search(decoded):
        raise UnsafeRequest("the path holds a forbidden character")
    if "%2f" in path.lower() or "%5c" in path.lower():
        raise UnsafeRequest("encoded slashes are not allowed in the path")
    if any(segment in (".", "..") for segment in decoded.split("/")):
        raise UnsafeRequest("dot-segments are not allowed in the path")


def forwarded_headers(
    headers: list[tuple[str, str]], *, client_ip: str, proto: str, host: str
) -> list[tuple[str, str]]:
    """Append this hop to X-Forwarded-For/Proto/Host, keeping what earlier proxies wrote."""
    append = {"x-forwarded-for": client_ip, "x-forwarded-proto": proto, "x-forwarded-host": host}
    out: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in append:
            seen[lower] = f"{seen[lower]}, {value}" if lower in seen else value
        else:
            out.append((name, value))
    for lower, ours in append.items():
        title = "X-Forwarded-" + lower.rsplit("-", 1)[1].title()
        out.append((title, f"{seen[lower]}, {ours}" if lower in seen else ours))
    return out


def set_host(headers: list[tuple[str, str]], host: str) -> list[tuple[str, str]]:
    """Exactly one Host header: the upstream's own unless the upstream asks for the public one."""
    return [*((k, v) for k, v in headers if k.lower() != "host"), ("Host", host)]


def rewrite_location(location: str, *, upstream_origins: Iterable[str], public_origin: str) -> str:
    """An absolute redirect to an upstream's own origin is sent to the public origin instead."""
    parts = urlsplit(location)
    if not parts.scheme or not parts.netloc:
        return location
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if origin in {o.lower().rstrip("/") for o in upstream_origins}:
        return public_origin.rstrip("/") + location[len(origin) :]
    return location


def response_headers(
    headers: Iterable[tuple[str, str]],
    *,
    upstream_origins: Iterable[str],
    public_origin: str,
) -> list[tuple[str, str]]:
    """Upstream response headers for the client: hop-by-hop and unsafe ones dropped, Location mapped."""
    out = []
    for name, value in strip_hop_by_hop(headers):
        if _UNSAFE_VALUE.search(value) or not _TOKEN.match(name):
            continue
        if name.lower() == "location":
            value = rewrite_location(
                value, upstream_origins=upstream_origins, public_origin=public_origin
            )
        out.append((name, value))
    return out
