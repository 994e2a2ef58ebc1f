"""The request path: one `Proxy` per worker process (built by `strangler_proxy.runtime`).

`Proxy.handle` is a short pipeline of named steps; a step that answers by itself raises
`Rejected` with the client's reply. Forwarding is `strangler_proxy.upstream.forward`.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import structlog
from structlog.contextvars import bind_contextvars, reset_contextvars

from servicekit.web import tally
from servicekit.web.jwt.tokens import TokenError, VerifierUnavailable
from servicekit.web.metrics import UPSTREAM_LATENCY, UPSTREAM_REQUESTS
from servicekit.web.request_id import HEADER as REQUEST_ID_HEADER
from servicekit.web.request_id import request_id_from
from strangler_proxy.edge import headers as h
from strangler_proxy.edge.access_log import AccessEntry, counted
from strangler_proxy.edge.auth import EdgeAuth, unverified_subject
from strangler_proxy.edge.ratelimit import Limiter
from strangler_proxy.edge.reply import Rejected, Reply, problem_reply, stream, wants_html
from strangler_proxy.metrics import (
    CLIENT_DISCONNECTS,
    REJECTED,
    SHADOW_COMPARISONS,
    UPSTREAM_ERRORS,
)
from strangler_proxy.routes.model import RouteTable
from strangler_proxy.routes.resolve import Decision, resolve
from strangler_proxy.routes.source import TableSource
from strangler_proxy.shadow.compare import Answer
from strangler_proxy.shadow.runner import SHADOW_HEADER, ShadowRunner
from strangler_proxy.upstream.client import Response, TransportError
from strangler_proxy.upstream.forward import Forwarder, Unavailable
from strangler_proxy.upstream.pool import UpstreamRuntime, Upstreams
from strangler_proxy.upstream.response import is_decimal_length

logger = structlog.get_logger(__name__)


class ClientGone(Exception):
    """The client closed the connection before its request body arrived."""


class BadLength(Exception):
    """The request's Content-Length is not 1*DIGIT (RFC 9112 section 6.3)."""


@dataclass(frozen=True)
class ProxyOptions:
    """Built from `strangler_proxy.config.ProxyConfig`, where the defaults are."""

    max_body: int
    buffer_limit: int
    tracing: bool
    trust_canary_header: bool
    trusted_hops: h.TrustedHops
    canary_secret: str = ""
    admin_only_paths: tuple[str, ...] = ()
    access_log: bool = True


@dataclass
class Incoming:
    """One request as the pipeline sees it; steps fill in what they learn."""

    meta: dict[str, Any]
    request_id: str
    method: str
    target: str
    route_label: str = "-"
    upstream_label: str = "-"
    headers: list[tuple[str, str]] | None = None
    client: h.ClientView | None = None
    public_origin: str = ""

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Incoming:
        return cls(
            meta=meta,
            request_id=request_id_from(meta.get("HTTP_X_REQUEST_ID")),
            method=meta.get("REQUEST_METHOD", "GET"),
            target=meta.get("RAW_URI") or meta.get("REQUEST_URI") or _target(meta),
        )

    def reject(self, status: int, code: str, detail: str, extra=None) -> Rejected:
        html = wants_html(self.meta.get("HTTP_ACCEPT", ""))
        return Rejected(problem_reply(status, code, detail, self.request_id, extra, html=html))


class Proxy:
    def __init__(
        self,
        *,
        source: TableSource,
        upstreams: Upstreams,
        forwarder: Forwarder,
        limiter: Limiter,
        auth: EdgeAuth | None,
        shadow: ShadowRunner,
        options: ProxyOptions,
    ):
        self.source = source
        self.upstreams = upstreams
        self.forwarder = forwarder
        self.limiter = limiter
        self.auth = auth
        self.shadow = shadow
        self.options = options

    def table(self) -> RouteTable:
        table = self.source.current()
        self.upstreams.sync(table)
        return table

    def handle(self, meta: dict[str, Any]) -> Reply:
        """Answer one request given its WSGI environ (Django's `request.META` is one). The
        proxy's own log lines carry its request id meanwhile; one access line follows."""
        started = time.perf_counter()
        request = Incoming.from_meta(meta)
        # set, then reset to what it was (structlog's bound_contextvars, without its copies)
        tokens = bind_contextvars(request_id=request.request_id)
        try:
            reply = self._pipeline(request)
        finally:
            reset_contextvars(**tokens)
        if not self.options.access_log:
            return reply
        entry = AccessEntry(
            request_id=request.request_id,
            method=request.method,
            target=request.target,
            started=started,
            route=request.route_label,
            upstream=request.upstream_label,
        )
        if reply.streaming:
            reply.body = counted(reply.body, entry, reply.status)  # type: ignore[arg-type]
        else:
            entry.log(status=reply.status, size=len(reply.body))  # type: ignore[arg-type]
        return reply

    def _pipeline(self, request: Incoming) -> Reply:
        try:
            self._refuse_unsafe(request)
            self._see_client(request)
            self._guard_operational(request)
            decision = self._resolve(request)
            claims = self._authenticate(request, decision)
            self._rate_limit(request, decision, claims)
            body = self._read_body(request, decision)
            headers = self._upstream_headers(request)
            upstream, raw = self._forward(request, decision, headers, body)
            reply = self._answer(request, upstream, raw)
        except Rejected as exc:
            return exc.reply
        if decision.shadow_to:
            if reply.streaming:  # too large to hold for a comparison: counted, not compared
                SHADOW_COMPARISONS.labels(request.route_label, "streamed").inc()
            else:
                self._shadow(request, decision, headers, body, raw, reply)
        return reply

    # --- the steps, in order -------------------------------------------------------------

    def _refuse_unsafe(self, request: Incoming) -> None:
        """Dot-segments, encoded slashes, NUL, CR/LF, bad header names: 400; a target or header
        fields over the limits: 414 or 431."""
        try:
            h.check_path(request.target)
            request.headers = h.request_headers(request.meta)
        except h.TooLarge as exc:
            REJECTED.labels(request.route_label, "too_large").inc()
            raise request.reject(exc.status, exc.code, str(exc)) from None
        except h.UnsafeRequest as exc:
            REJECTED.labels(request.route_label, "unsafe").inc()
            raise request.reject(400, "unsafe_request", str(exc)) from None

    def _see_client(self, request: Incoming) -> None:
        """Who calls, over which scheme, for which host: X-Forwarded-* believed only from
        trusted hops (STRANGLER_PROXY_FORWARDED_ALLOW_IPS), else what this socket saw."""
        meta = request.meta
        request.client = h.client_view(
            request.headers or [],
            peer=meta.get("REMOTE_ADDR", "") or "unknown",
            scheme=meta.get("wsgi.url_scheme", "http"),
            host=meta.get("HTTP_HOST") or f"{meta.get('SERVER_NAME')}:{meta.get('SERVER_PORT')}",
            trusted=self.options.trusted_hops,
        )

    def _guard_operational(self, request: Incoming) -> None:
        """Upstreams' `/metrics`, `/readyz` (with exception text), OpenAPI schema and docs
        are for operators: 404 to anyone without the admin token or a staff JWT."""
        path = request.meta.get("PATH_INFO") or "/"
        if not h.path_under_any(path, self.options.admin_only_paths):
            return
        if self.auth is not None and self.auth.is_admin(request.meta.get("HTTP_AUTHORIZATION")):
            return
        REJECTED.labels(request.route_label, "operational").inc()
        raise request.reject(404, "not_found", "Not found.")

    def _resolve(self, request: Incoming) -> Decision:
        meta = request.meta
        table = self.table()
        decision = resolve(
            table,
            method=request.method,
            path=meta.get("PATH_INFO") or "/",
            sticky_key=self._sticky_key(request) if table.has_canary else None,
            override=self._canary_override(request) if table.has_canary else None,
        )
        request.route_label = decision.route_name
        return decision

    def _authenticate(self, request: Incoming, decision: Decision) -> dict[str, Any] | None:
        """`auth: required` (and `optional` when a token is sent): a verified JWT, else 401."""
        route = decision.route
        authorization = request.meta.get("HTTP_AUTHORIZATION")
        if route is None or route.auth == "none" or self.auth is None:
            return None
        if not authorization and route.auth != "required":
            return None
        try:
            return self.auth.verify(authorization)
        except VerifierUnavailable as exc:
            REJECTED.labels(request.route_label, "verifier_unavailable").inc()
            raise request.reject(
                503, exc.code, exc.message, [("Retry-After", str(exc.retry_after))]
            ) from None
        except TokenError as exc:
            REJECTED.labels(request.route_label, "unauthenticated").inc()
            raise request.reject(
                401,
                "not_authenticated",
                str(exc),
                [("WWW-Authenticate", 'Bearer realm="strangler"')],
            ) from None

    def _rate_limit(
        self, request: Incoming, decision: Decision, claims: dict[str, Any] | None
    ) -> None:
        route = decision.route
        if route is None or route.rate_limit is None:
            return
        limit = route.rate_limit
        who = f"user:{claims['sub']}" if limit.key == "user" and claims else _client_ip(request)
        allowed, retry_after = self.limiter.hit(
            f"{route.name}:{who}", limit=limit.requests, per=limit.per
        )
        if not allowed:
            REJECTED.labels(request.route_label, "rate_limited").inc()
            raise request.reject(
                429,
                "rate_limited",
                "Too many requests for this route.",
                [("Retry-After", str(retry_after))],
            )

    def _read_body(self, request: Incoming, decision: Decision) -> bytes | None:
        # a 400 here leaves the socket in an unknown state (bytes of the body may follow)
        close = [("Connection", "close")]
        route = decision.route
        limit = route.max_body if route and route.max_body is not None else self.options.max_body
        try:
            return _body_of(request.meta, limit)
        except ClientGone:
            CLIENT_DISCONNECTS.labels(request.route_label).inc()
            raise request.reject(
                400, "incomplete_body", "The request body was cut short.", close
            ) from None
        except BadLength:
            REJECTED.labels(request.route_label, "bad_length").inc()
            raise request.reject(
                400, "bad_content_length", "Content-Length must be ASCII digits.", close
            ) from None
        except OverflowError:
            REJECTED.labels(request.route_label, "too_large").inc()
            raise request.reject(
                413,
                "payload_too_large",
                f"The request body exceeds {limit} bytes.",
                [("Connection", "close")],
            ) from None

    def _upstream_headers(self, request: Incoming) -> list[tuple[str, str]]:
        """Our request id, X-Forwarded-* overwritten, hop-by-hop removed; the trace context."""
        client = request.client
        assert client is not None
        request.public_origin = f"{client.proto}://{client.host}"
        headers = h.upstream_headers(request.headers or [], client, request.request_id)
        return _inject_trace(headers) if self.options.tracing else headers

    def _forward(
        self,
        request: Incoming,
        decision: Decision,
        headers: list[tuple[str, str]],
        body: bytes | None,
    ) -> tuple[UpstreamRuntime, Response]:
        started = time.perf_counter()
        request.upstream_label = decision.target
        try:
            upstream, raw = self.forwarder.forward(
                decision, request.method, request.target, headers, body
            )
        except Unavailable as exc:
            UPSTREAM_REQUESTS.labels(request.route_label, decision.target, "0").inc()
            extra = [("Retry-After", str(exc.retry_after))] if exc.retry_after is not None else []
            raise request.reject(exc.status, exc.kind, str(exc), extra) from None
        label = request.route_label
        request.upstream_label = upstream.name
        # (applied at the end of the loop's turn, with the other requests' of that turn)
        tally.inc(_child(UPSTREAM_REQUESTS, label, upstream.name, str(raw.status)))
        tally.observe(_child(UPSTREAM_LATENCY, label, upstream.name), time.perf_counter() - started)
        return upstream, raw

    def _answer(self, request: Incoming, upstream: UpstreamRuntime, raw: Response) -> Reply:
        """Small answers buffered, larger or chunked ones streamed; Location mapped back."""
        headers = h.response_headers(
            raw.headers.items(),
            upstream_origins=self.upstreams.origins,
            public_origin=request.public_origin,
            drop=_THEIR_REQUEST_ID,  # one, ours
            checked=raw.headers.lowered if raw.headers.checked else None,
        )
        headers.append((REQUEST_ID_HEADER, request.request_id))
        length = raw.content_length  # the Content-Length the client checked, or None
        # a redirect's body is a line of text, even chunked: held, so shadow mode compares it
        small = (
            request.method == "HEAD"
            or raw.status in (204, 304)
            or 300 <= raw.status < 400
            or (length is not None and length <= self.options.buffer_limit)
        )
        if not small:
            body = stream(raw, upstream.name, request.route_label)
            return Reply(raw.status, raw.reason, headers, body)
        try:
            data = raw.read(decode_content=False)
        except TransportError as exc:
            raw.close()
            UPSTREAM_ERRORS.labels(upstream.name, "protocol").inc()
            # the head had arrived (the upstream may have acted): say why the body did not
            logger.warning(
                "upstream_body_broke_off",
                upstream=upstream.name,
                status=raw.status,
                error=f"{type(exc).__name__}: {exc}",
            )
            return problem_reply(
                502, "upstream_protocol", "The upstream answer broke off.", request.request_id
            )
        raw.release_conn()
        return Reply(raw.status, raw.reason, headers, data)

    def _shadow(
        self,
        request: Incoming,
        decision: Decision,
        headers: list[tuple[str, str]],
        body: bytes | None,
        raw: Response,
        reply: Reply,
    ) -> None:
        """After the primary's answer is ready: the same request to the candidate, compared."""
        route = decision.route
        assert route is not None and decision.shadow_to is not None
        candidate = self.upstreams.get(decision.shadow_to)
        method, target = request.method, request.target
        shadow_headers = [*headers, (SHADOW_HEADER, "1")]  # reads only (routes.resolve)
        forwarder = self.forwarder

        origins, public = self.upstreams.origins, request.public_origin

        def seen(items) -> dict[str, str]:
            """Headers as the client sees them: a Location to an upstream's own origin mapped
            to the public one, so two upstreams redirecting alike compare equal."""
            pairs = h.response_headers(items, upstream_origins=origins, public_origin=public)
            return {k.lower(): v for k, v in pairs}

        def call() -> Answer:
            answer = forwarder.call(
                candidate, None, method, target, shadow_headers, body, preload=True
            )
            return Answer(answer.status, seen(answer.headers.items()), answer.data)

        primary = Answer(raw.status, seen(raw.headers.items()), reply.body)
        self.shadow.submit(
            route=route.name,
            method=method,
            target=target,
            request_id=request.request_id,
            primary=primary,
            call=call,
            ignore_fields=route.shadow_ignore_fields,
            ignore_headers=route.shadow_ignore_headers,
            ignore_patterns=route.shadow_ignore_patterns,
            request_headers=shadow_headers,  # for traffic capture (secrets stripped there)
            body=body,
        )

    def _canary_override(self, request: Incoming) -> str | None:
        """`X-Strangler-Canary` is believed only when the proxy is configured to
        (STRANGLER_TRUST_CANARY_HEADER), and then only from an admin or staff token or with
        `X-Strangler-Canary-Secret` equal to STRANGLER_CANARY_SECRET: anyone else could push
        themselves onto an unproven candidate."""
        meta = request.meta
        wanted = meta.get("HTTP_X_STRANGLER_CANARY")
        if not wanted or not self.options.trust_canary_header:
            return None
        secret = self.options.canary_secret
        given = meta.get("HTTP_X_STRANGLER_CANARY_SECRET", "")
        if secret and hmac.compare_digest(given.encode(), secret.encode()):
            return wanted
        if self.auth is not None and self.auth.is_admin(meta.get("HTTP_AUTHORIZATION")):
            return wanted
        return None

    def _sticky_key(self, request: Incoming) -> str | None:
        meta = request.meta
        return (
            unverified_subject(meta.get("HTTP_AUTHORIZATION"))
            or meta.get("HTTP_COOKIE", "").partition("sessionid=")[2].split(";")[0]
            or _client_ip(request)
        )


def _body_of(meta: dict, limit: int) -> bytes | None:
    """The request body under `limit` (OverflowError past it; ClientGone when cut short;
    BadLength for a Content-Length that is not ASCII digits)."""
    length = meta.get("CONTENT_LENGTH")
    stream_in = meta.get("wsgi.input")
    if length:
        if not is_decimal_length(length):
            raise BadLength
        size = int(length)
        if size > limit:
            raise OverflowError
        if size == 0:
            return b""
        try:
            body = stream_in.read(size)
        except OSError as exc:
            raise ClientGone from exc
        if len(body) < size:
            raise ClientGone
        return body
    if "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower() and stream_in is not None:
        try:
            body = stream_in.read(limit + 1)
        except OSError as exc:
            raise ClientGone from exc
        if len(body) > limit:
            raise OverflowError
        return body
    return None


_THEIR_REQUEST_ID = frozenset({REQUEST_ID_HEADER.lower()})
_CHILDREN: dict[tuple, Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, remembered: `labels()` validates and locks on every call."""
    key = (id(metric), *labels)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*labels)
    return child


def _target(meta: dict) -> str:
    """The request target when the server does not hand over the raw one (Django test client,
    granian): PATH_INFO is decoded, so `%` is encoded again (a `%2F` reads as `/`)."""
    path = quote(meta.get("PATH_INFO", "/").encode("latin-1"), safe="/:@!$&'()*+,;=-._~")
    query = meta.get("QUERY_STRING")
    return f"{path}?{query}" if query else path


def _client_ip(request: Incoming) -> str:
    return request.client.address if request.client else "unknown"


def _inject_trace(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Our span becomes the upstream's parent (W3C traceparent/tracestate)."""
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier:
        return headers
    names = {k.lower() for k in carrier}
    return [(k, v) for k, v in headers if k.lower() not in names] + list(carrier.items())
