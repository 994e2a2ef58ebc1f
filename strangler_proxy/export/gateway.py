"""The route table as Kubernetes Gateway API `HTTPRoute`s (gateway.networking.k8s.io/v1).

How resolve.py's rules become the Gateway API's (see "Gateway API export" in
strangler_proxy/README.md):
- our table is first-match-wins; a Gateway picks the most specific match (longest path prefix,
  then a method match over none). Where an earlier route takes every path a later one matches,
  the later route is exported without the methods the earlier one takes (and not at all when
  none are left), so both orders pick the same route for every request;
- where the order cannot be carried (a `pattern` route becomes a RegularExpression match, whose
  precedence against a PathPrefix is implementation-specific) and the two routes would send a
  request to different places, the export says so (`conflicts`; `--strict` refuses);
- canary: `backendRefs` weights in hundredths of a percent (per request: the Gateway API has no
  sticky split in its standard channel); shadow: the primary serves, reads are copied with a
  `RequestMirror` filter to the comparator (the Python proxy, which serves them from the primary,
  fetches the candidate and records the difference); the tester override headers are removed.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from strangler_proxy.routes.model import Route, RouteTable, RouteTableError, Upstream
from strangler_proxy.routes.resolve import WRITES, canary_hundredths

API_VERSION = "gateway.networking.k8s.io/v1"
# the HTTPMethod enum of HTTPRouteMatch
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
READS = tuple(m for m in METHODS if m not in WRITES)
_OVERRIDE_HEADERS = ["X-Strangler-Canary", "X-Strangler-Canary-Secret"]
_NAMED = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")
_META = re.compile(r"[\\.^$*+?{}\[\]|()]")
WEIGHT_TOTAL = 10000


@dataclass(frozen=True)
class Backend:
    service: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Backend:
        service, _, port = text.rpartition(":")
        if not service or not port.isdigit():
            raise RouteTableError(f"backend {text!r}: expected SERVICE:PORT")
        return cls(service, int(port))

    def ref(self, weight: int | None = None) -> dict[str, Any]:
        ref: dict[str, Any] = {"name": self.service, "port": self.port}
        if weight is not None:
            ref["weight"] = weight
        return ref


@dataclass(frozen=True)
class GatewayOptions:
    gateway: str = "strangler"  # the Gateway the routes attach to (parentRefs)
    gateway_namespace: str | None = None
    namespace: str | None = None  # the HTTPRoutes' own namespace
    hostnames: tuple[str, ...] = ()
    backends: dict[str, Backend] = field(default_factory=dict)  # upstream name -> Service
    comparator: Backend | None = None  # the Python proxy's Service: shadow reads mirrored there


@dataclass
class Export:
    documents: list[dict[str, Any]]
    conflicts: list[str]  # orders the Gateway API cannot be made to keep (see the module doc)
    dropped: list[str]  # routes no request reaches in the table itself


def backend_for(upstream: Upstream, options: GatewayOptions) -> Backend:
    """The Service an upstream is in the cluster: `--backend` first, else its first instance's
    host (a Service name) and port; an address or localhost names the Service after the
    upstream (the port map is the same in the cluster: k8s/base)."""
    if upstream.name in options.backends:
        return options.backends[upstream.name]
    if upstream.discovery == "dns" and upstream.dns:
        return Backend(str(upstream.dns["name"]).split(".")[0], int(upstream.dns.get("port", 80)))
    if not upstream.instances:
        raise RouteTableError(
            f"upstream {upstream.name!r} has no instances: give --backend {upstream.name}=SERVICE:PORT"
        )
    parts = urlsplit(upstream.instances[0])
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if host == "localhost" or _is_address(host):
        return Backend(upstream.name, port)
    return Backend(host.split(".")[0], port)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _expand(methods: frozenset[str] | None) -> set[str]:
    if methods is None:
        return set(METHODS)
    out = set(methods)
    if "GET" in out:  # HEAD takes the GET route (model.Route.matches)
        out.add("HEAD")
    return out


def literal_prefix(route: Route) -> str:
    """What every path the route matches starts with."""
    if route.regex is None:
        return route.prefix or "/"
    pattern = route.regex.pattern.lstrip("^")
    match = _META.search(pattern)
    return pattern[: match.start()] if match else pattern


def _takes_all_paths_of(earlier: Route, later: Route) -> bool:
    """Every path `later` matches, `earlier` matches too (provable only for a prefix)."""
    return earlier.regex is None and literal_prefix(later).startswith(earlier.prefix or "/")


def _may_overlap(one: Route, other: Route) -> bool:
    a, b = literal_prefix(one), literal_prefix(other)
    methods = _expand(one.methods) & _expand(other.methods)
    return bool(methods) and (a.startswith(b) or b.startswith(a))


def _duration(seconds: float) -> str:
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{math.ceil(seconds * 1000)}ms"


def _dns_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:253] or "route"


class _Renderer:
    def __init__(self, table: RouteTable, options: GatewayOptions):
        self.table = table
        self.options = options

    def backend(self, name: str) -> Backend:
        return backend_for(self.table.upstreams[name], self.options)

    def outcome(self, route: Route | None, *, read: bool) -> dict[str, Any]:
        """backendRefs, filters and timeouts of one rule: where its requests go."""
        primary = self.table.default_upstream
        candidate = (route.upstream if route else None) or primary
        filters: list[dict[str, Any]] = [
            {
                "type": "RequestHeaderModifier",
                "requestHeaderModifier": {"remove": _OVERRIDE_HEADERS},
            }
        ]
        sides = [(primary, WEIGHT_TOTAL)]
        if route is not None and route.mode == "extracted":
            sides = [(candidate, WEIGHT_TOTAL)]
        elif route is not None and route.mode == "canary":
            part = min(WEIGHT_TOTAL, max(0, canary_hundredths(route.percent)))
            sides = [(s, w) for s, w in ((primary, WEIGHT_TOTAL - part), (candidate, part)) if w]
        elif (
            route is not None
            and route.mode == "shadow"
            and read
            and not route.sensitive
            and self.options.comparator is not None
        ):
            mirror = {"backendRef": self.options.comparator.ref()}
            filters.append({"type": "RequestMirror", "requestMirror": mirror})
        refs = [
            self.backend(side).ref(weight if len(sides) > 1 else None) for side, weight in sides
        ]
        rule: dict[str, Any] = {"backendRefs": refs, "filters": filters}
        timeout = max(
            ((route.timeout if route else None) or self.table.upstreams[side].timeout).read
            for side, _ in sides
        )
        rule["timeouts"] = {"request": _duration(timeout)}
        return rule

    def path_match(self, route: Route) -> dict[str, str]:
        if route.regex is not None:  # named groups are captures nobody reads
            return {"type": "RegularExpression", "value": _NAMED.sub("(?:", route.regex.pattern)}
        return {"type": "PathPrefix", "value": route.prefix or "/"}

    def rules(self, route: Route, methods: set[str] | None) -> list[dict[str, Any]]:
        """One rule per outcome: a shadow route's reads are mirrored, its writes are not."""
        path = self.path_match(route)
        groups: list[tuple[set[str] | None, bool]]
        if route.mode == "shadow" and self.options.comparator is not None and not route.sensitive:
            universe = set(METHODS) if methods is None else methods
            reads, writes = universe & set(READS), universe - set(READS)
            # a rule without a method match takes what the read rule's method matches don't
            rest: set[str] | None = None if methods is None else writes
            groups = [(reads, True), (rest, False)] if reads else [(methods, False)]
            groups = [(m, read) for m, read in groups if m is None or m]
        else:
            groups = [(methods, True)]
        rules = []
        for group, read in groups:
            matches = (
                [{"path": path}]
                if group is None
                else [{"path": dict(path), "method": m} for m in METHODS if m in group]
            )
            rules.append({"matches": matches, **self.outcome(route, read=read)})
        return rules

    def document(self, name: str, rules: list[dict[str, Any]], comment: str) -> dict[str, Any]:
        parent: dict[str, Any] = {"name": self.options.gateway}
        if self.options.gateway_namespace:
            parent["namespace"] = self.options.gateway_namespace
        metadata: dict[str, Any] = {
            "name": _dns_name(f"strangler-{name}"),
            "labels": {
                "app.kubernetes.io/part-of": "strangler",
                "strangler/route": _dns_name(name),
            },
            "annotations": {"strangler/route": comment},
        }
        if self.options.namespace:
            metadata["namespace"] = self.options.namespace
        spec: dict[str, Any] = {"parentRefs": [parent]}
        if self.options.hostnames:
            spec["hostnames"] = list(self.options.hostnames)
        spec["rules"] = rules
        return {"apiVersion": API_VERSION, "kind": "HTTPRoute", "metadata": metadata, "spec": spec}


def export(table: RouteTable, options: GatewayOptions) -> Export:
    renderer = _Renderer(table, options)
    documents: list[dict[str, Any]] = []
    dropped: list[str] = []
    kept: list[tuple[Route, set[str]]] = []  # each exported route with the methods it keeps
    routes = table.routes
    for index, route in enumerate(routes):
        methods = _expand(route.methods)
        takers: list[str] = []
        for earlier in routes[:index]:
            if _takes_all_paths_of(earlier, route) and methods & _expand(earlier.methods):
                methods -= _expand(earlier.methods)
                takers.append(earlier.name)
        if not methods:
            dropped.append(
                f"{route.name}: every request it matches is taken by {', '.join(takers)}"
            )
            continue
        kept.append((route, methods))
        exact = None if route.methods is None and methods == set(METHODS) else methods
        description = f"{route.mode}: {route.prefix or route.pattern}"
        documents.append(renderer.document(route.name, renderer.rules(route, exact), description))
    if not any(r.regex is None and (r.prefix or "/") == "/" and r.methods is None for r in routes):
        rule = {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}
        rule.update(renderer.outcome(None, read=True))
        documents.append(renderer.document("default", [rule], "what no route matches"))
    return Export(documents=documents, conflicts=_conflicts(renderer, kept), dropped=dropped)


def _conflicts(renderer: _Renderer, kept: list[tuple[Route, set[str]]]) -> list[str]:
    """Pairs whose order the Gateway API leaves to the implementation (a RegularExpression
    against another match) and that send a request to different places."""
    found = []
    for index, (earlier, early_methods) in enumerate(kept):
        for later, late_methods in kept[index + 1 :]:
            if earlier.regex is None and later.regex is None:
                continue  # prefixes: kept exact by the method subtraction
            common = early_methods & late_methods
            if not common or not _may_overlap(earlier, later):
                continue
            if later.regex is None and all(
                _outranked(later, method, earlier, kept) for method in common
            ):
                continue
            if any(
                _destination(renderer, earlier, m) != _destination(renderer, later, m)
                for m in common
            ):
                found.append(
                    f"{earlier.name} comes before {later.name} and both can match "
                    f"{literal_prefix(earlier)}...; the Gateway API leaves the precedence of a "
                    "RegularExpression match to the implementation, and the two send requests "
                    "to different places"
                )
    return found


def _outranked(prefix_route: Route, method: str, regex_route: Route, kept) -> bool:
    """On every path of `regex_route`, a longer prefix than `prefix_route`'s takes `method`."""
    length = len(prefix_route.prefix or "/")
    return any(
        other.regex is None
        and method in methods
        and len(other.prefix or "/") > length
        and _takes_all_paths_of(other, regex_route)
        for other, methods in kept
    )


def _destination(renderer: _Renderer, route: Route, method: str) -> tuple:
    """Where the route sends a request of `method`: its backends and the mirror, if any."""
    rule = renderer.outcome(route, read=method not in WRITES)
    mirrors = [f for f in rule["filters"] if f["type"] == "RequestMirror"]
    return rule["backendRefs"], mirrors


def render(table: RouteTable, options: GatewayOptions) -> tuple[str, Export]:
    """The export as one multi-document YAML text, its header naming what it could not carry."""
    result = export(table, options)
    header = [
        "# Generated by `python -m strangler_proxy export gateway` from the strangler's route table:",
        "# edit the table (or flip it with `routes set` / the lifecycle gates) and export again.",
        "# Not carried by the Gateway API (kept by the Python proxy or the nginx plane): sticky",
        "# canary per user, retries, fallback to the monolith, rate limits, the edge's token",
        "# check, body limits; shadow reads are mirrored to the comparator, which compares.",
    ]
    header += [f"# dropped (never reached): {line}" for line in result.dropped]
    header += [f"# CONFLICT: {line}" for line in result.conflicts]
    body = yaml.safe_dump_all(result.documents, sort_keys=False, default_flow_style=False)
    return "\n".join(header) + "\n---\n" + body, result
