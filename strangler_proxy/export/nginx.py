"""The route table as a complete nginx configuration: nginx serves the traffic, the table and
what decides it (`routes set`, the admin API, the lifecycle gates) stay with the strangler.

How resolve.py's rules become nginx's (see "nginx as the data plane" in strangler_proxy/README.md):
- first matching route wins: one `map` on "$request_method:$uri" whose entries are all regexes,
  which nginx tries in file order; the value names the route, its side and the method's class,
  and a server-level rewrite sends the request to that internal location;
- the upstream gets the client's raw `$request_uri`, as the Python proxy forwards the raw target;
  so the targets the Python proxy refuses (dot-segments, encoded slashes, NUL) are refused here;
- canary: `split_clients` (MurmurHash2) on "<route>:<sticky key>", the hash routes/resolve.py
  computes too; the tester override header is never honoured (and is not passed on);
- reads (GET, HEAD, OPTIONS) retry over the route's instances and fall back after any failure
  (the fallback is a `backup` server); other methods fall back only when nothing was sent.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from servicekit.web.problems import PROBLEM_TYPE_PREFIX
from strangler_proxy.edge.headers import FIELDS_TOO_LARGE, LINE_LIMIT, URI_TOO_LONG
from strangler_proxy.routes.model import RetryPolicy, Route, RouteTable, Timeout, Upstream
from strangler_proxy.routes.resolve import canary_hundredths
from strangler_proxy.upstream.forward import FALLBACK_SAFE

DEFAULT_ROUTE = "__default"
# a URI, not a named location: nginx refuses a target above the root (`/../x`) while reading the
# request line, with no URI left to carry to a named location
REFUSED = "/__strangler_400"
# with a comparator (the Python proxy's URL) nginx sends it these: its own paths, and mirrors
CONTROL_LOCATION = "^~ /_strangler/"
CONTROL_PATHS = "^/(_strangler/|__strangler_mirror$)"
READ, WRITE = "read", "write"
_STATUSES = {500: "http_500", 502: "http_502", 503: "http_503", 504: "http_504", 429: "http_429"}
_ASKED_TO_WAIT = frozenset({"http_503", "http_429"})
# forwarding headers a client may forge besides the three the edge sets (edge/headers.py drops
# every X-Forwarded-*; stock nginx can only name them one by one)
_FORWARDING_DROPPED = (
    "X-Real-IP",
    "X-Forwarded-Ssl",
    "X-Forwarded-Protocol",
    "X-Forwarded-Scheme",
    "X-Forwarded-Port",
    "X-Forwarded-Prefix",
    "X-Forwarded-Server",
)
_HOP_BY_HOP_DROPPED = (
    "Keep-Alive",
    "TE",
    "Trailer",
    "Upgrade",
    "Proxy-Authorization",
    "Proxy-Connection",
)
# a location that sets any proxy_set_header inherits none: each writes all of these
_PROXY_HEADERS = (
    'Connection ""',
    "X-Request-ID $strangler_request_id",
    # the edge sets these: overwritten, never appended to what the client sent
    "X-Forwarded-For $remote_addr",
    "X-Forwarded-Proto $scheme",
    "X-Forwarded-Host $http_host",
    'Forwarded ""',
    *(f'{name} ""' for name in _FORWARDING_DROPPED),
    # hop-by-hop (edge/headers.py HOP_BY_HOP); nginx writes its own Connection
    *(f'{name} ""' for name in _HOP_BY_HOP_DROPPED),
    # the tester override is off on this plane: never honoured, never passed on
    'X-Strangler-Canary ""',
    'X-Strangler-Canary-Secret ""',
)
_NAMED = re.compile(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")


@dataclass(frozen=True)
class UpstreamTls:
    """mTLS to the upstreams (docs/mtls.md): the certificate nginx presents (key and
    certificate in one PEM file, as servicekit.web.tls.ca writes them) and the CA it verifies
    the upstreams' certificates against."""

    identity: str
    trusted_ca: str


@dataclass(frozen=True)
class NginxOptions:
    listen: str = "127.0.0.1:8080"
    max_body: int = 10 * 1024 * 1024
    client_timeout: float = 10.0  # header and body: a slow client cannot hold a connection
    admin_only_paths: tuple[str, ...] = ()
    worker_processes: str = "auto"
    # the Python proxy (its URL): shadow routes' reads are mirrored there, and it compares;
    # nginx also passes it its own paths (/_strangler/: control centre, admin API, metrics)
    comparator: str = ""
    access_log: bool = True  # JSON lines in access.log (off: benchmarks, like plain nginx's)
    # https upstreams present this certificate and are verified (None: nginx's default, which
    # neither presents one nor verifies the upstream)
    upstream_tls: UpstreamTls | None = None


def _quote(text: str) -> str:
    """A double-quoted nginx string (backslashes and quotes escaped; `$` is left to variables)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _seconds(value: float) -> str:
    return f"{max(1, math.ceil(value * 1000))}ms"


def _ident(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _path_regex(route: Route) -> str:
    if route.regex is not None:  # fullmatch; named groups would set nginx variables
        return _NAMED.sub("(?:", route.regex.pattern) + "$"
    return re.escape(route.prefix or "/")


def _methods_regex(route: Route) -> str:
    if route.methods is None:
        return "[^:]+"
    methods = set(route.methods)
    if "GET" in methods:  # HEAD takes the GET route (model.Route.matches)
        methods.add("HEAD")
    return "(?:" + "|".join(sorted(methods)) + ")"


def _side(route: Route | None, index: int) -> str:
    if route is None or route.mode in ("monolith", "shadow"):
        return "primary"
    if route.mode == "extracted":
        return "candidate"
    part = canary_hundredths(route.percent)
    if part <= 0:
        return "primary"
    if part >= 10000:
        return "candidate"
    return f"$strangler_canary_{index}"


def hostport(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme or "http", f"{parts.hostname}:{port}"


def tls_name(upstream: Upstream) -> str:
    """The name an https upstream's certificate is verified under: the instances' host when it
    is a name; for an address, the upstream's own name (nginx checks DNS names only, and the
    fleet's certificates carry their service's name: servicekit.web.tls.ca)."""
    host = urlsplit(upstream.instances[0]).hostname if upstream.instances else None
    try:
        ipaddress.ip_address(host or "")
    except ValueError:
        return host or upstream.name
    return upstream.name


def _origins(table: RouteTable) -> list[str]:
    """Every upstream instance's `scheme://host[:port]`, as written in the table, once each."""
    found: dict[str, None] = {}
    for upstream in table.upstreams.values():
        for url in upstream.instances:
            parts = urlsplit(url)
            found[f"{parts.scheme}://{parts.netloc}".lower()] = None
    return list(found)


def _servers(upstream: Upstream) -> list[str]:
    if upstream.discovery == "dns" and upstream.dns:
        return [f"{upstream.dns['name']}:{upstream.dns.get('port', 80)}"]
    return [hostport(url)[1] for url in upstream.instances]


def _policies(table: RouteTable, route: Route | None, upstream: Upstream) -> tuple:
    """The route's retry and timeout where it sets them, else the upstream's (forward.py)."""
    retry: RetryPolicy = (route.retry if route and route.retry else None) or upstream.retry
    timeout: Timeout = (route.timeout if route else None) or upstream.timeout
    return retry, timeout


class _Writer:
    def __init__(self, table: RouteTable, options: NginxOptions):
        self.table = table
        self.options = options
        self.lines: list[str] = []
        self.groups: dict[str, list[str]] = {}  # upstream block name -> its lines

    def add(self, indent: int, text: str = "") -> None:
        self.lines.append("    " * indent + text if text else "")

    # --- upstream blocks -----------------------------------------------------------------

    def group(self, name: str, fallback: str | None = None) -> str:
        block = f"strangler_{_ident(name)}" + (f"__or_{_ident(fallback)}" if fallback else "")
        if block in self.groups:
            return block
        upstream = self.table.upstreams[name]
        body = [self._comment_discovery(upstream)] if upstream.discovery == "zookeeper" else []
        if upstream.balancer in ("least_outstanding", "p2c"):
            body.append("least_conn;")
        servers = _servers(upstream)
        for server in servers:
            body.append(
                f"server {server} max_fails={upstream.fail_max} "
                f"fail_timeout={max(1, math.ceil(upstream.reset_timeout))}s;"
            )
        if not servers:  # nothing known at export time: refused, never routed elsewhere
            body.append("server 127.0.0.1:1 down;")
        if fallback:
            for server in _servers(self.table.upstreams[fallback]):
                body.append(f"server {server} backup;")
        body.append("keepalive 32;")
        self.groups[block] = body
        return block

    @staticmethod
    def _comment_discovery(upstream: Upstream) -> str:
        return f"# {upstream.name}: zookeeper discovery is not exported; instances listed only"

    # --- one internal location per (route, side, method class) ---------------------------

    def location(self, key: str, route: Route | None, side: str, kind: str) -> None:
        table = self.table
        target = (route.upstream if route and route.upstream else None) or table.default_upstream
        if side == "primary":
            target = table.default_upstream
        upstream = table.upstreams[target]
        fallback = route.fallback if route and side == "candidate" else None
        if fallback == target:
            fallback = None
        retry, timeout = _policies(table, route, upstream)
        name = route.name if route else DEFAULT_ROUTE
        max_body = route.max_body if route and route.max_body is not None else None
        max_body = self.options.max_body if max_body is None else max_body
        read_fallback = fallback if kind == READ else None
        block = self.group(target, read_fallback)
        scheme = hostport(upstream.instances[0])[0] if upstream.instances else "http"
        statuses = [_STATUSES[s] for s in sorted(retry.on_status) if s in _STATUSES]
        if kind == WRITE:
            # A 503 or 429 may be the service asking to wait (a handover's write freeze answers
            # writes 503 with its Retry-After), which the Python plane never counts against an
            # instance (http_client.asked_to_wait). nginx counts every status it passes to the
            # next server towards max_fails and cannot read the header, so a write's 503/429 is
            # never passed on: it reaches the client as the service sent it, and the reads,
            # which a freeze does not stop, keep their instances.
            statuses = [s for s in statuses if s not in _ASKED_TO_WAIT]
        tries = max(1, retry.attempts) + (1 if read_fallback else 0)

        self.add(2, f"location = /__strangler/{key} {{")
        self.add(3, "internal;")
        self.add(3, f"set $strangler_route_name {_quote(name)};")
        self.add(3, f"set $strangler_side {side};")
        self.add(3, f"client_max_body_size {max_body};")
        if route and route.rate_limit:
            limit = route.rate_limit
            burst = f" burst={limit.requests - 1} nodelay" if limit.requests > 1 else ""
            self.add(3, f"limit_req zone=strangler_rl_{_ident(name)}{burst};")
        self.add(3, f"proxy_connect_timeout {_seconds(timeout.connect)};")
        self.add(3, f"proxy_read_timeout {_seconds(timeout.read)};")
        self.add(3, f"proxy_send_timeout {_seconds(timeout.read)};")
        self.add(3, f"proxy_next_upstream {' '.join(['error', 'timeout', *statuses])};")
        self.add(3, f"proxy_next_upstream_tries {tries};")
        self._headers(3, upstream)
        self._errors(
            3,
            name,
            fallback_named=f"@strangler_fb_{_ident(key)}" if fallback and kind == WRITE else None,
        )
        if route and route.mode == "shadow" and kind == READ and self.options.comparator:
            # a copy to the Python proxy, which serves it from the primary, fetches the
            # candidate and records the difference as it does for its own traffic
            self.add(3, "mirror /__strangler_mirror;")
        self._tls(3, scheme, upstream)
        self.add(3, f"proxy_pass {scheme}://{block}$request_uri;")
        self.add(2, "}")
        if fallback and kind == WRITE:
            # only what never left: a write the candidate may have committed is not resent
            fb = table.upstreams[fallback]
            fb_scheme = hostport(fb.instances[0])[0] if fb.instances else "http"
            failures = (
                (502, "upstream_unavailable", "Bad Gateway"),
                (504, "upstream_timeout", "Gateway Timeout"),
            )
            for status, code, title in failures:
                self.add(2, f"location @strangler_fb_{_ident(key)}_{status} {{")
                self.add(3, "default_type application/problem+json;")  # for the return only
                self.add(3, "if ($strangler_unsent = 0) {")
                detail = "The upstream failed after the request was sent; a write is never resent."
                self.add(4, self._problem_return(status, code, title, detail))
                self.add(3, "}")
                self.add(3, "proxy_next_upstream off;")
                self._headers(3, fb)
                self._errors(3, name)
                self._tls(3, fb_scheme, fb)
                self.add(3, f"proxy_pass {fb_scheme}://{self.group(fallback)}$request_uri;")
                self.add(2, "}")

    def _tls(self, indent: int, scheme: str, upstream: Upstream) -> None:
        # the certificate and the CA are set once for the whole http block (render)
        if scheme == "https" and self.options.upstream_tls:
            self.add(indent, f"proxy_ssl_name {_quote(tls_name(upstream))};")

    def _headers(self, indent: int, upstream: Upstream) -> None:
        self.add(indent, f"proxy_set_header Host {self._host(upstream)};")
        for header in _PROXY_HEADERS:
            self.add(indent, f"proxy_set_header {header};")

    def _host(self, upstream: Upstream) -> str:
        if upstream.preserve_host or not upstream.instances:
            return "$http_host"
        return hostport(upstream.instances[0])[1]

    def _errors(self, indent: int, name: str, fallback_named: str | None = None) -> None:
        # a location that sets any error_page/add_header inherits none: all are written here
        self.add(indent, "add_header X-Request-ID $strangler_request_id always;")
        self.add(indent, f"error_page 400 {REFUSED};")
        self.add(indent, "error_page 413 = @strangler_413;")
        self.add(indent, f"error_page 429 = @strangler_429_{_ident(name)};")
        if fallback_named:
            self.add(indent, f"error_page 502 = {fallback_named}_502;")
            self.add(indent, f"error_page 504 = {fallback_named}_504;")
        else:
            self.add(indent, "error_page 502 = @strangler_502;")
            self.add(indent, "error_page 504 = @strangler_504;")

    def _problem_return(self, status: int, code: str, title: str, detail: str) -> str:
        body = {
            "type": PROBLEM_TYPE_PREFIX + code,
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            "request_id": "REQUEST_ID",
        }
        text = json.dumps(body).replace('"REQUEST_ID"', '"$strangler_request_id"')
        return f"return {status} {_quote(text)};"

    def problem_location(
        self, named: str, status: int, code: str, title: str, detail: str, extra: list[str] = ()
    ) -> None:
        self.add(2, f"location {named} {{")
        self.add(3, "default_type application/problem+json;")
        self.add(3, "add_header X-Request-ID $strangler_request_id always;")
        for line in extra:
            self.add(3, line)
        self.add(3, self._problem_return(status, code, title, detail))
        self.add(2, "}")


def routed_key(route: Route | None, side: str, kind: str) -> str:
    return f"{route.name if route else DEFAULT_ROUTE}/{side}/{kind}"


def render(table: RouteTable, options: NginxOptions | None = None) -> str:
    """The whole nginx.conf for `table` (run it with `nginx -p <folder> -c <this file>`)."""
    options = options or NginxOptions()
    w = _Writer(table, options)
    routes = list(table.routes)
    shadowed = [r.name for r in routes if r.mode == "shadow"]
    timeout = _seconds(options.client_timeout)

    # --- maps: class of method, route, canary sides, request id, sticky key -------------
    http: list[str] = []
    http.append("map $request_method $strangler_kind {")
    for method in sorted(FALLBACK_SAFE):
        http.append(f"    {method} {READ};")
    http.append(f"    default {WRITE};")
    http.append("}")
    http.append(
        "# first matching route wins (regexes are tried in file order, as routes/resolve.py)"
    )
    http.append('map "$request_method:$uri" $strangler_target {')
    for index, route in enumerate(routes):
        regex = f"^{_methods_regex(route)}:{_path_regex(route)}"
        side = _side(route, index)
        http.append(f"    {_quote('~' + regex)} {_quote(f'{route.name}/{side}/$strangler_kind')};")
    http.append(f"    default {_quote(f'{DEFAULT_ROUTE}/primary/$strangler_kind')};")
    http.append("}")
    http.append(
        "# the sticky key: the session cookie, else the client's address (README: JWT users)"
    )
    http.append("map $cookie_sessionid $strangler_sticky {")
    http.append('    "" $remote_addr;')
    http.append("    default $cookie_sessionid;")
    http.append("}")
    for index, route in enumerate(routes):
        side = _side(route, index)
        if side.startswith("$"):
            part = canary_hundredths(route.percent)
            http.append(
                f"split_clients {_quote(route.name + ':$strangler_sticky')} $strangler_canary_{index} {{"
            )
            http.append(f"    {part // 100}.{part % 100:02d}% candidate;")
            http.append("    * primary;")
            http.append("}")
    http.append("map $http_x_request_id $strangler_request_id {")
    http.append('    "~^[A-Za-z0-9._:-]{1,128}$" $http_x_request_id;')
    http.append("    default $request_id;")
    http.append("}")
    http.append("# nothing reached the upstream (every try sent 0 bytes): a write may fall back")
    http.append("map $upstream_bytes_sent $strangler_unsent {")
    http.append('    "~^[0 ,:]*$" 1;')
    http.append("    default 0;")
    http.append("}")
    http.append(f"# a target over {LINE_LIMIT} bytes: 414, as the Python proxy (check_path)")
    http.append("map $request_uri $strangler_too_long {")
    http.append(f'    "~^.{{{LINE_LIMIT + 1}}}" 1;')
    http.append("    default 0;")
    http.append("}")
    http.append("# refused as the Python proxy refuses them (edge/headers.py check_path)")
    http.append("map $request_uri $strangler_unsafe {")
    for unsafe in (
        r"~*^[^?]*%(25)*(2f|5c|00|0d|0a)",  # encoded (or double-encoded) slash, \\, NUL, CR, LF
        r"~^[^?]*\\",  # a backslash
        r"~*^[^?]*/(\.|%(25)*2e){1,2}(/|\?|$)",  # dot-segments, plain or encoded
        r"~^[^/]",  # not an absolute path
    ):
        http.append(f"    {_quote(unsafe)} 1;")
    http.append("    default 0;")
    http.append("}")
    for route in routes:
        if route.rate_limit:
            limit = route.rate_limit
            key = "$strangler_sticky" if limit.key == "user" else "$binary_remote_addr"
            per_minute = max(1, round(limit.requests * 60 / limit.per))
            http.append(
                f"limit_req_zone {key} zone=strangler_rl_{_ident(route.name)}:1m rate={per_minute}r/m;"
            )

    # --- locations: one per (route, side, class) in use -----------------------------------
    for index, route in [*enumerate(routes), (len(routes), None)]:
        side = _side(route, index)
        sides = ("candidate", "primary") if side.startswith("$") else (side,)
        for one in sides:
            for kind in (READ, WRITE):
                w.location(routed_key(route, one, kind), route, one, kind)
    if options.comparator:
        scheme, server = hostport(options.comparator)
        w.groups["strangler__comparator"] = [f"server {server};", "keepalive 8;"]
        # the Python proxy's own paths (control centre, admin API, metrics, health) are its
        # to answer, as on the Python plane; and shadow reads' copies, to compare
        places = [(CONTROL_LOCATION, "60s")]
        if shadowed:
            places.append(("= /__strangler_mirror", "30s"))
        for place, read_timeout in places:
            w.add(2, f"location {place} {{")
            if place.endswith("_mirror"):
                w.add(3, "internal;")
            w.add(3, "proxy_connect_timeout 1s;")
            w.add(3, f"proxy_read_timeout {read_timeout};")
            w.add(3, "proxy_next_upstream off;")
            w.add(3, "proxy_set_header Host $http_host;")
            for header in _PROXY_HEADERS:
                w.add(3, f"proxy_set_header {header};")
            w.add(3, f"proxy_pass {scheme}://strangler__comparator$request_uri;")
            w.add(2, "}")
    w.problem_location(
        "= " + REFUSED,
        400,
        "unsafe_request",
        "Bad Request",
        "The request target is refused (dot-segments, encoded slashes or NUL).",
    )
    w.problem_location("@strangler_404", 404, "not_found", "Not Found", "Not found.")
    w.problem_location(
        "@strangler_414",
        414,
        "uri_too_long",
        URI_TOO_LONG,
        f"The request target is over {LINE_LIMIT} bytes.",
    )
    w.problem_location(
        "@strangler_431",
        431,
        "request_header_fields_too_large",
        FIELDS_TOO_LARGE,
        "A request header field is too large.",
    )
    w.problem_location(
        "@strangler_413",
        413,
        "payload_too_large",
        "Content Too Large",
        "The request body is larger than this route accepts.",
    )
    w.problem_location(
        "@strangler_502",
        502,
        "upstream_unavailable",
        "Bad Gateway",
        "The upstream could not be reached.",
    )
    w.problem_location(
        "@strangler_504",
        504,
        "upstream_timeout",
        "Gateway Timeout",
        "The upstream did not answer in time.",
    )
    for route in [*routes, None]:
        name = route.name if route else DEFAULT_ROUTE
        limit = route.rate_limit if route else None
        retry_after = max(1, math.ceil(limit.per / limit.requests)) if limit else 1
        w.problem_location(
            f"@strangler_429_{_ident(name)}",
            429,
            "rate_limited",
            "Too Many Requests",
            "Too many requests for this route.",
            [f"add_header Retry-After {retry_after} always;"],
        )
    locations = w.lines

    out: list[str] = []
    add = out.append
    add(
        "# Generated by `python -m strangler_proxy export nginx` from the route table; do not edit."
    )
    add("# Run: nginx -p <writable folder> -c <this file>   (reload: nginx ... -s reload)")
    if shadowed and options.comparator:
        add(f"# Shadow routes: reads served by the primary, mirrored to {options.comparator}:")
        add("#   " + ", ".join(shadowed))
    elif shadowed:
        add("# Shadow routes are exported as their primary side (no comparator configured):")
        add("#   " + ", ".join(shadowed))
    if any(r.auth != "none" for r in routes):
        add(
            "# Routes with `auth:` are not verified here (no JWT in stock nginx): the upstream checks."
        )
    add(f"worker_processes {options.worker_processes};")
    # the routes' and the refusals' regexes compiled to machine code (off by default in nginx):
    # 0.3-0.9 µs less of nginx's ~23 µs of CPU per request (benchmarks/bench_nginx_plane.py)
    add("pcre_jit on;")
    add("pid nginx.pid;")
    add("error_log error.log warn;")
    add("events { worker_connections 1024; }")
    add("http {")
    for line in (
        "default_type application/octet-stream;",
        "server_tokens off;",
        "client_body_temp_path body_temp;",
        "proxy_temp_path proxy_temp;",
        "fastcgi_temp_path fastcgi_temp;",
        "uwsgi_temp_path uwsgi_temp;",
        "scgi_temp_path scgi_temp;",
        f"client_header_timeout {timeout};",
        f"client_body_timeout {timeout};",
        f"send_timeout {timeout};",
        # a header line over 8 KB: 494, answered 431 as the Python proxy does (FIELD_LIMIT)
        "large_client_header_buffers 4 8k;",
        "keepalive_timeout 65s;",
        "limit_req_status 429;",
        "proxy_http_version 1.1;",
        "proxy_buffering off;",  # streamed answers leave as they come, as the Python proxy does
        # hop-by-hop answers nginx would pass (it drops Connection, Keep-Alive, Upgrade itself)
        "proxy_hide_header Proxy-Authenticate;",
        "proxy_hide_header Trailer;",
        # the upstream echoes the id it was given; the edge adds it once itself (add_header)
        "proxy_hide_header X-Request-ID;",
        'log_format strangler_json escape=json \'{"time":"$time_iso8601","request_id":"$strangler_request_id","method":"$request_method","path":"$uri","status":$status,"route":"$strangler_route_name","side":"$strangler_side","upstream":"$upstream_addr","upstream_status":"$upstream_status","duration":$request_time,"completion":"$request_completion"}\';',
        "access_log access.log strangler_json;" if options.access_log else "access_log off;",
    ):
        add("    " + line)
    if options.upstream_tls:
        # mTLS to https upstreams (docs/mtls.md); each location names the certificate it expects
        identity = _quote(options.upstream_tls.identity)
        for line in (
            f"proxy_ssl_certificate {identity};",
            f"proxy_ssl_certificate_key {identity};",
            f"proxy_ssl_trusted_certificate {_quote(options.upstream_tls.trusted_ca)};",
            "proxy_ssl_verify on;",
            "proxy_ssl_verify_depth 2;",
            "proxy_ssl_session_reuse on;",
        ):
            add("    " + line)
    for line in http:
        add("    " + line)
    for block, body in w.groups.items():
        add(f"    upstream {block} {{")
        for line in body:
            add(f"        {line}")
        add("    }")
    add("    server {")
    add(f"        listen {options.listen};")
    add("        merge_slashes off;  # routes see the path as the Python proxy does")
    add('        set $strangler_route_name "-";')
    add('        set $strangler_side "-";')
    add(f"        if ($uri = {REFUSED}) {{ break; }}  # the refusal's own answer")
    add("        if ($strangler_unsafe) { return 400; }")
    add("        if ($strangler_too_long) { return 414; }")
    add(f"        error_page 400 {REFUSED};")
    add("        error_page 414 = @strangler_414;")
    add(
        "        error_page 494 = @strangler_431;  # nginx's own code for a header over its buffers"
    )
    if options.admin_only_paths:
        alts = "|".join(re.escape(p.rstrip("/") or "/") for p in options.admin_only_paths)
        add(f"        if ($uri ~ {_quote(f'^({alts})(/|$)')}) {{ return 404; }}")
        add("        error_page 404 = @strangler_404;")
    if options.comparator:  # the Python proxy's paths, and the mirror's subrequest
        add(f"        if ($uri ~ {_quote(CONTROL_PATHS)}) {{ break; }}")
    # an absolute redirect to any upstream's own origin goes to the public one (headers.py
    # rewrite_location); proxy_pass has variables, so nginx's `proxy_redirect default` is off
    for origin in _origins(table):
        add(f"        proxy_redirect {origin}/ $scheme://$http_host/;")
    add("        rewrite ^ /__strangler/$strangler_target last;")
    out.extend(locations)
    add("    }")
    add("}")
    return "\n".join(out) + "\n"
