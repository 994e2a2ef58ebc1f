"""Pure header and path helpers: hop-by-hop removal, X-Forwarded-*, Host, Location, safety checks."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from servicekit.web.request_id import HEADER as REQUEST_ID_HEADER
from strangler_proxy.upstream.fields import NAMES_KEPT, TOKEN_NAMES, kept, token_lower

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
# besides X-Forwarded-*: RFC 7239's Forwarded and the X-Real-IP some frameworks read
_FORWARDING = frozenset({"forwarded", "x-real-ip"})
REQUEST_ID_NAME = REQUEST_ID_HEADER.lower()
# Per request the same few dozen names come and go: each is converted once per process
# (bounded, as a client chooses the names).
_META_NAMES: dict[str, tuple[str, str]] = {}  # HTTP_USER_AGENT -> (User-Agent, user-agent)


# A request's head, bounded as gunicorn bounds it by default (limit_request_line,
# limit_request_fields, limit_request_field_size) under every server: uvicorn's protocol
# refuses a head over them before it is parsed whole (strangler_proxy/edge/uvicorn_server.py);
# under granian, whose own limits are larger (~400 KB, 100 fields), `check_target` and
# `check_headers` refuse it before any upstream sees it; the nginx plane answers the same.
LINE_LIMIT = 4094
FIELDS_LIMIT = 100
FIELD_LIMIT = 8190
URI_TOO_LONG = "URI Too Long"  # (the reasons gunicorn gives: the problems' codes follow them)
FIELDS_TOO_LARGE = "Request Header Fields Too Large"


class UnsafeRequest(ValueError):
    """The request is refused at the edge (path traversal, header injection)."""


class TooLarge(UnsafeRequest):
    """A request head over a limit: 414 (the target) or 431 (its header fields)."""

    def __init__(self, status: int, reason: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.reason = reason

    @property
    def code(self) -> str:
        return self.reason.lower().replace(" ", "_")


def target_too_long(length: int) -> TooLarge:
    return TooLarge(414, URI_TOO_LONG, f"the request target is over {LINE_LIMIT} bytes ({length})")


def too_many_fields() -> TooLarge:
    return TooLarge(431, FIELDS_TOO_LARGE, f"more than {FIELDS_LIMIT} header fields")


def field_too_large(name: str) -> TooLarge:
    return TooLarge(431, FIELDS_TOO_LARGE, f"header {name[:40]!r} is over {FIELD_LIMIT} bytes")


def unsafe_value(value: str) -> bool:
    # CR, LF or NUL: header injection (three scans in C cost a seventh of a regex search)
    return "\r" in value or "\n" in value or "\x00" in value


def writable_name(name: str, value: str) -> str:
    """`name` in lower case, for a header field that may be written as it is; UnsafeRequest
    for a name that is not a token or a value holding CR, LF or NUL (it would split the
    message)."""
    lower = token_lower(name)
    if lower is None or unsafe_value(value):
        raise UnsafeRequest(f"header {name[:40]!r} cannot be written")
    return lower


def _meta_name(key: str) -> tuple[str, str]:
    """An environ key's header name and that name in lower case (`HTTP_USER_AGENT` ->
    `User-Agent`, `user-agent`)."""
    named = _META_NAMES.get(key)
    if named is None:
        name = (key[5:] if key.startswith("HTTP_") else key).replace("_", "-").title()
        named = (name, name.lower())
        if len(_META_NAMES) < NAMES_KEPT:
            _META_NAMES[key] = named
    return named


def connection_tokens(values: Iterable[str]) -> set[str]:
    """Header names listed in `Connection`, which are hop-by-hop for this one message."""
    return {t.strip().lower() for v in values for t in v.split(",") if t.strip()}


def meta_to_headers(meta: Mapping[str, object]) -> list[tuple[str, str]]:
    """Request headers from a WSGI environ, hop-by-hop ones removed; names in canonical case."""
    headers: list[tuple[str, str]] = []
    lowered: list[str] = []
    for key, value in meta.items():
        if key.startswith("HTTP_") or (key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value):
            name, lower = _META_NAMES.get(key) or _meta_name(key)
            headers.append((name, str(value)))
            lowered.append(lower)
    return _end_to_end(headers, lowered)


def request_headers(meta: Mapping[str, object]) -> list[tuple[str, str]]:
    """`meta_to_headers(meta)`, refused by `check_headers` when it must be. A client sends the
    same header names request after request: what its names need (their order and header
    names, which are hop-by-hop, which are tokens) is worked out once per set of environ keys,
    and each request's values are then checked together."""
    keys = tuple(meta)
    plan = _PLANS.get(keys, _UNPLANNED)
    if plan is _UNPLANNED:
        plan = _plan(keys)
    if plan is not None:
        header_keys, names, size, content = plan
        values = [*map(meta.__getitem__, header_keys)]
        try:
            joined = "".join(values)
            connection = meta.get("HTTP_CONNECTION", "keep-alive").lower()  # type: ignore[union-attr]
        except (TypeError, AttributeError):  # a value that is not a string
            joined = connection = ""
        if (
            connection == "keep-alive"  # (no other name made hop-by-hop by it)
            and not unsafe_value(joined)
            and len(joined) + size <= FIELD_LIMIT  # (then no field is over it)
            and all(values[i] for i in content)
        ):
            return list(zip(names, values, strict=True))
    headers = meta_to_headers(meta)
    check_headers(headers)
    return headers


_UNPLANNED = object()
_Plan = tuple[tuple[str, ...], tuple[str, ...], int, tuple[int, ...]]
_PLANS: dict[tuple[str, ...], _Plan | None] = {}
_PLANS_KEPT = 512


def _plan(keys: tuple[str, ...]) -> _Plan | None:
    """For an environ with these keys: the keys of the headers passed on, in order; their
    names; the bytes a field adds besides its value (the name and `: `); where CONTENT_TYPE and
    CONTENT_LENGTH are among them (passed on only when not empty). None when the fields must be
    taken one by one (a name that is not a token, too many fields)."""
    header_keys: list[str] = []
    names: list[str] = []
    plan: _Plan | None = None
    for key in keys:
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name, lower = _meta_name(key)
            if lower in HOP_BY_HOP:
                continue
            if token_lower(name) is None:
                break
            header_keys.append(key)
            names.append(name)
    else:
        if len(names) <= FIELDS_LIMIT:
            content = tuple(i for i, key in enumerate(header_keys) if not key.startswith("HTTP_"))
            plan = (tuple(header_keys), tuple(names), sum(len(n) + 2 for n in names), content)
    if len(_PLANS) < _PLANS_KEPT:
        _PLANS[keys] = plan
    return plan


def strip_hop_by_hop(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    headers = list(headers)
    return _end_to_end(headers, [k.lower() for k, _ in headers])


def _end_to_end(headers: list[tuple[str, str]], lowered: list[str]) -> list[tuple[str, str]]:
    """`headers` (their names in lower case in `lowered`) without the hop-by-hop ones: those
    of HOP_BY_HOP and those a Connection header lists."""
    drop: frozenset[str] | set[str] = HOP_BY_HOP
    if "connection" in lowered:
        named = connection_tokens(
            v for (_, v), k in zip(headers, lowered, strict=True) if k == "connection"
        )
        drop = HOP_BY_HOP | named
    return [pair for pair, k in zip(headers, lowered, strict=True) if k not in drop]


def check_headers(headers: list[tuple[str, str]]) -> None:
    """Refuse CR, LF or NUL in a value and names that are not HTTP tokens (header injection);
    more than FIELDS_LIMIT fields, or one over FIELD_LIMIT bytes (`TooLarge`, 431)."""
    if len(headers) > FIELDS_LIMIT:
        raise too_many_fields()
    for name, value in headers:
        if token_lower(name) is None or unsafe_value(value):
            raise UnsafeRequest(f"header {name[:40]!r} is not allowed")
        if len(name) + len(value) + 2 > FIELD_LIMIT:
            raise field_too_large(name)


def check_path(raw_path: str) -> None:
    """Refuse dot-segments (plain or percent-encoded), backslashes, NUL and encoded slashes;
    a target (path and query) over LINE_LIMIT bytes (`TooLarge`, 414)."""
    if len(raw_path) > LINE_LIMIT:
        raise target_too_long(len(raw_path))
    path = raw_path.partition("?")[0]
    if not path.startswith("/"):
        raise UnsafeRequest("the request target must be an absolute path")
    decoded = path
    encoded = "%" in path
    if encoded:
        for _ in range(3):  # double and triple encoding (%252e) decode to dots too
            decoded = unquote(decoded)
    if "\\" in decoded or unsafe_value(decoded):
        raise UnsafeRequest("the path holds a forbidden character")
    if encoded and ("%2f" in path.lower() or "%5c" in path.lower()):
        raise UnsafeRequest("encoded slashes are not allowed in the path")
    # every segment follows a "/": a dot-segment needs "/." somewhere
    if "/." in decoded and any(segment in (".", "..") for segment in decoded.split("/")):
        raise UnsafeRequest("dot-segments are not allowed in the path")


@dataclass(frozen=True)
class TrustedHops:
    """The peers whose X-Forwarded-* we believe (an ingress, a load balancer): gunicorn's
    `forwarded_allow_ips`. Addresses or networks, comma-separated; `*` trusts every peer."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    everyone: bool = False

    @classmethod
    def parse(cls, text: str) -> TrustedHops:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if "*" in items:
            return cls(everyone=True)
        return cls(networks=tuple(ipaddress.ip_network(item, strict=False) for item in items))

    def __contains__(self, address: str) -> bool:
        if self.everyone:
            return True
        if not self.networks:  # the default: the proxy is the edge
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


@dataclass(frozen=True)
class ClientView:
    """Who is calling, over which scheme, for which host, as the edge establishes it."""

    address: str
    proto: str
    host: str


def _last_value(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The right-most element of a (possibly repeated, comma-separated) header, or None."""
    values = [v for k, v in headers if k.lower() == name]
    items = [item.strip() for value in values for item in value.split(",") if item.strip()]
    return items[-1] if items else None


def client_view(
    headers: list[tuple[str, str]], *, peer: str, scheme: str, host: str, trusted: TrustedHops
) -> ClientView:
    """What the edge saw, believing a peer's X-Forwarded-* only when the peer is a trusted hop.

    Behind trusted hops the client is the right-most X-Forwarded-For entry that is not itself a
    trusted hop: entries to its left were written by the client and prove nothing.
    """
    if peer not in trusted:
        return ClientView(address=peer, proto=scheme, host=host)
    address = peer
    chain = [
        item.strip()
        for k, v in headers
        if k.lower() == "x-forwarded-for"
        for item in v.split(",")
        if item.strip()
    ]
    for entry in reversed(chain):
        try:
            ipaddress.ip_address(entry)
        except ValueError:
            break  # garbage left of a trusted hop: keep the address that hop reported
        address = entry
        if entry not in trusted:
            break
    proto = (_last_value(headers, "x-forwarded-proto") or "").lower()
    return ClientView(
        address=address,
        proto=proto if proto in ("http", "https") else scheme,
        host=_last_value(headers, "x-forwarded-host") or host,
    )


def is_forwarding_header(name: str) -> bool:
    """Headers that tell an upstream who called and how; only the edge may write them."""
    lower = name.lower()
    return lower.startswith("x-forwarded-") or lower in _FORWARDING


def _written_by_proxy(name: str) -> bool:
    """Names a client's request never takes upstream: the proxy's own (its request id,
    X-Strangler-*: X-Strangler-Shadow marks a shadow copy) and the edge's (every forwarding
    header). Remembered per name, as `token_lower` does."""
    lower = name.lower()
    written = (
        lower == REQUEST_ID_NAME or lower.startswith("x-strangler-") or is_forwarding_header(lower)
    )
    if len(_WRITTEN_BY_PROXY) < NAMES_KEPT:
        _WRITTEN_BY_PROXY[name] = written
    return written


_WRITTEN_BY_PROXY: dict[str, bool] = {}  # a name -> _written_by_proxy(name), once per process


def upstream_headers(
    headers: Iterable[tuple[str, str]], view: ClientView, request_id: str
) -> list[tuple[str, str]]:
    """What an upstream is sent of a client's headers: every name the proxy or the edge writes
    dropped; our request id and X-Forwarded-For/Proto/Host (what the edge saw, `view`) added.

    The proxy is the edge: a client's own X-Forwarded-For would give it a fresh throttle bucket
    per request downstream, its X-Forwarded-Proto: https would make `is_secure()` true on plain
    HTTP (gunicorn also trusts X-Forwarded-Ssl and X-Forwarded-Protocol from its proxy).
    """
    out = []
    for pair in headers:
        written = _WRITTEN_BY_PROXY.get(pair[0])
        if not (_written_by_proxy(pair[0]) if written is None else written):
            out.append(pair)
    out += [
        (REQUEST_ID_HEADER, request_id),
        ("X-Forwarded-For", view.address),
        ("X-Forwarded-Proto", view.proto),
        ("X-Forwarded-Host", view.host),
    ]
    return out


def path_under(path: str, prefix: str) -> bool:
    """`path` is `prefix` itself or below it (`/metrics`, `/metrics/x`; not `/metricsx`)."""
    base = prefix.rstrip("/") or "/"
    return path == base or path.startswith(base.rstrip("/") + "/")


def path_under_any(path: str, prefixes: tuple[str, ...]) -> bool:
    """`path_under(path, p)` for some `p` of `prefixes`, in one lookup and one startswith."""
    exact, below = _under(prefixes)
    return path in exact or path.startswith(below)


@functools.lru_cache(maxsize=16)
def _under(prefixes: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    bases = [p.rstrip("/") or "/" for p in prefixes]
    return frozenset(bases), tuple(base.rstrip("/") + "/" for base in bases)


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
    drop: frozenset[str] = frozenset(),
    checked: list[str] | None = None,
) -> list[tuple[str, str]]:
    """Upstream response headers for the client: hop-by-hop and unsafe ones dropped, Location
    mapped; `drop`: lower-case names left out as well. `checked`: the names in lower case, when
    the caller knows each name is a token and no value holds CR, LF or NUL (the upstream
    client's parse: upstream/client.py), so that only the names are looked at."""
    if checked is not None:
        pairs = headers if isinstance(headers, list) else list(headers)
        return _checked_response_headers(pairs, checked, drop, upstream_origins, public_origin)
    # one lower-case name per header, None for a name that is not a token (dropped)
    named = [(name, value, TOKEN_NAMES.get(name) or token_lower(name)) for name, value in headers]
    skip = _SKIPPED.get(drop) or _skipped(drop)
    listed = [value for _, value, lower in named if lower == "connection"]
    if listed:
        skip = skip | connection_tokens(listed)
    out = []
    for name, value, lower in named:
        if lower is None or lower in skip or unsafe_value(value):
            continue
        if lower == "location":
            value = rewrite_location(
                value, upstream_origins=upstream_origins, public_origin=public_origin
            )
        out.append((name, value))
    return out


def _checked_response_headers(
    pairs: list[tuple[str, str]],
    lowered: list[str],
    drop: frozenset[str],
    upstream_origins: Iterable[str],
    public_origin: str,
) -> list[tuple[str, str]]:
    skip = _SKIPPED.get(drop) or _skipped(drop)
    if "connection" in lowered and (
        lowered.count("connection") > 1
        or pairs[lowered.index("connection")][1].lower() != "keep-alive"  # (in HOP_BY_HOP)
    ):
        skip = skip | connection_tokens(
            v for (_, v), k in zip(pairs, lowered, strict=True) if k == "connection"
        )
    out = kept(pairs, lowered, skip)
    if "location" in lowered:
        out = [
            (
                name,
                rewrite_location(
                    value, upstream_origins=upstream_origins, public_origin=public_origin
                ),
            )
            if name.lower() == "location"
            else (name, value)
            for name, value in out
        ]
    return out


# HOP_BY_HOP with each `drop` a caller passes (one or two constant sets)
_SKIPPED: dict[frozenset[str], frozenset[str]] = {}


def _skipped(drop: frozenset[str]) -> frozenset[str]:
    skip = HOP_BY_HOP | drop
    if len(_SKIPPED) < 16:
        _SKIPPED[drop] = skip
    return skip
