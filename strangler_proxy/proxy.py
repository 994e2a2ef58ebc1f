"""The forwarding engine: one `Proxy` per worker process, built once, holding every pool."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import pybreaker
import urllib3

from servicekit.web.backoff import backoff_delay
from servicekit.web.errors import PROBLEM_CONTENT_TYPE, problem, title_for
from servicekit.web.http_client import breaker_retry_after, may_retry
from servicekit.web.jwt.tokens import TokenError
from servicekit.web.metrics import UPSTREAM_LATENCY, UPSTREAM_REQUESTS
from servicekit.web.request_id import HEADER as REQUEST_ID_HEADER
from servicekit.web.request_id import request_id_from
from strangler_proxy import headers as h
from strangler_proxy.auth import EdgeAuth, unverified_subject
from strangler_proxy.metrics import CLIENT_DISCONNECTS, FALLBACKS, REJECTED, UPSTREAM_ERRORS
from strangler_proxy.ratelimit import Limiter
from strangler_proxy.routing import Decision, Route, RouteTable, resolve
from strangler_proxy.shadow import DRY_RUN_HEADER, SHADOW_HEADER, Answer, ShadowRunner
from strangler_proxy.table_source import TableSource
from strangler_proxy.upstream_client import Client, Response
from strangler_proxy.upstreams import UpstreamRuntime, Upstreams

logger = logging.getLogger("strangler_proxy")
CHUNK = 64 * 1024
# Framing and Host are the client's to write, never copied from the incoming request.
_SET_BY_CLIENT = frozenset({"host", "content-length", "transfer-encoding"})


class ClientGone(Exception):
    """The client closed the connection before its request body arrived."""


class Unavailable(Exception):
    """No answer from an upstream; `status` and `retry_after` say what the client gets."""

    def __init__(
        self, kind: str, detail: str, *, status: int = 502, retry_after: int | None = None
    ):
        super().__init__(detail)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after


class _BadStatus(Exception):
    """A retryable 5xx, raised inside the breaker so that it counts as a failure."""

    def __init__(self, response: Response):
        super().__init__(f"upstream answered {response.status}")
        self.response = response


@dataclass
class Reply:
    """What the client gets; `body` is bytes, or an iterator when the answer is streamed."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes | Iterator[bytes]

    @property
    def streaming(self) -> bool:
        return not isinstance(self.body, bytes)

    @property
    def status_line(self) -> str:
        return f"{self.status} {self.reason or _phrase(self.status)}"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def problem_reply(
    status: int,
    code: str,
    detail: str,
    request_id: str,
    extra: list[tuple[str, str]] | None = None,
) -> Reply:
    """An answer of the proxy's own, as RFC 9457 problem+json (servicekit.web.errors.problem)."""
    body = problem(
        status_code=status,
        code=code,
        title=title_for(status),
        detail=detail,
        request_id=request_id or None,
    )
    data = json.dumps(body).encode()
    headers = [("Content-Type", PROBLEM_CONTENT_TYPE), ("Content-Length", str(len(data)))]
    if request_id:
        headers.append((REQUEST_ID_HEADER, request_id))
    return Reply(status, "", headers + (extra or []), data)


@dataclass(frozen=True)
class ProxyOptions:
    max_body: int = 10 * 1024 * 1024
    buffer_limit: int = 256 * 1024
    tracing: bool = False
    trust_canary_header: bool = True


class Proxy:
    def __init__(
        self,
        *,
        source: TableSource,
        upstreams: Upstreams,
        limiter: Limiter,
        auth: EdgeAuth | None,
        shadow: ShadowRunner,
        options: ProxyOptions,
        client: Client | None = None,
    ):
        self.source = source
        self.upstreams = upstreams
        self.http = upstreams.http
        self.limiter = limiter
        self.auth = auth
        self.shadow = shadow
        self.options = options
        self.client = client or Client()

    def table(self) -> RouteTable:
        table = self.source.current()
        self.upstreams.sync(table)
        return table

    # --- the request path ----------------------------------------------------------------

    def handle(self, meta: dict[str, Any]) -> Reply:
        """Answer one request given its WSGI environ (Django's `request.META` is one)."""
        request_id = request_id_from(meta.get("HTTP_X_REQUEST_ID"))
        method = meta.get("REQUEST_METHOD", "GET")
        target = meta.get("RAW_URI") or meta.get("REQUEST_URI") or _target(meta)
        route_label = "-"
        try:
            h.check_path(target)
            headers = h.meta_to_headers(meta)
            h.check_headers(headers)
        except h.UnsafeRequest as exc:
            REJECTED.labels(route_label, "unsafe").inc()
            return problem_reply(400, "unsafe_request", str(exc), request_id)

        table = self.table()
        authorization = meta.get("HTTP_AUTHORIZATION")
        decision = resolve(
            table,
            method=method,
            path=meta.get("PATH_INFO") or "/",
            sticky_key=self._sticky_key(meta, authorization) if table.has_canary else None,
            override=meta.get("HTTP_X_STRANGLER_CANARY")
            if self.options.trust_canary_header
            else None,
        )
        route = decision.route
        route_label = decision.route_name

        claims: dict[str, Any] | None = None
        needs_auth = route is not None and route.auth != "none" and self.auth is not None
        if needs_auth and (authorization or route.auth == "required"):
            try:
                claims = self.auth.verify(authorization)
            except TokenError as exc:
                REJECTED.labels(route_label, "unauthenticated").inc()
                return problem_reply(
                    401,
                    "not_authenticated",
                    str(exc),
                    request_id,
                    [("WWW-Authenticate", 'Bearer realm="strangler"')],
                )

        if route is not None and route.rate_limit is not None:
            limit = route.rate_limit
            who = f"user:{claims['sub']}" if limit.key == "user" and claims else _client_ip(meta)
            allowed, retry_after = self.limiter.hit(
                f"{route.name}:{who}", limit=limit.requests, per=limit.per
            )
            if not allowed:
                REJECTED.labels(route_label, "rate_limited").inc()
                return problem_reply(
                    429,
                    "rate_limited",
                    "Too many requests for this route.",
                    request_id,
                    [("Retry-After", str(retry_after))],
                )

        try:
            body = self._read_body(meta)
        except ClientGone:
            CLIENT_DISCONNECTS.labels(route_label).inc()
            return problem_reply(
                400, "incomplete_body", "The request body was cut short.", request_id
            )
        except OverflowError:
            REJECTED.labels(route_label, "too_large").inc()
            return problem_reply(
                413,
                "payload_too_large",
                f"The request body exceeds {self.options.max_body} bytes.",
                request_id,
                [("Connection", "close")],
            )

        scheme = meta.get("wsgi.url_scheme", "http")
        host = meta.get("HTTP_HOST") or f"{meta.get('SERVER_NAME')}:{meta.get('SERVER_PORT')}"
        headers = [(k, v) for k, v in headers if k != "X-Request-Id"]
        headers.append((REQUEST_ID_HEADER, request_id))
        headers = h.forwarded_headers(
            headers, client_ip=meta.get("REMOTE_ADDR", ""), proto=scheme, host=host
        )
        if self.options.tracing:
            headers = _inject_trace(headers)

        started = time.perf_counter()
        try:
            upstream, raw = self._forward(decision, method, target, headers, body, request_id)
        except Unavailable as exc:
            UPSTREAM_REQUESTS.labels(route_label, decision.target, "0").inc()
            extra = [("Retry-After", str(exc.retry_after))] if exc.retry_after is not None else []
            return problem_reply(exc.status, exc.kind, str(exc), request_id, extra)
        _child(UPSTREAM_REQUESTS, route_label, upstream.name, str(raw.status)).inc()
        _child(UPSTREAM_LATENCY, route_label, upstream.name).observe(time.perf_counter() - started)

        reply = self._reply(raw, upstream, route_label, f"{scheme}://{host}", method, request_id)
        if decision.shadow_to and not reply.streaming:
            self._shadow(decision, method, target, headers, body, request_id, raw, reply)
        return reply

    def _sticky_key(self, meta: dict, authorization: str | None) -> str | None:
        return (
            unverified_subject(authorization)
            or meta.get("HTTP_COOKIE", "").partition("sessionid=")[2].split(";")[0]
            or _client_ip(meta)
        )

    def _read_body(self, meta: dict) -> bytes | None:
        length = meta.get("CONTENT_LENGTH")
        stream = meta.get("wsgi.input")
        limit = self.options.max_body
        if length:
            size = int(length)
            if size > limit:
                raise OverflowError
            if size == 0:
                return b""
            try:
                body = stream.read(size)
            except OSError as exc:
                raise ClientGone from exc
            if len(body) < size:
                raise ClientGone
            return body
        if "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower() and stream is not None:
            try:
                body = stream.read(limit + 1)
            except OSError as exc:
                raise ClientGone from exc
            if len(body) > limit:
                raise OverflowError
            return body
        return None

    # --- calling upstreams -----------------------------------------------------------------

    def _forward(
        self,
        decision: Decision,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        request_id: str,
    ) -> tuple[UpstreamRuntime, Response]:
        route = decision.route
        upstream = self.upstreams.get(decision.target)
        keep_last = decision.fallback is None or decision.fallback == decision.target
        try:
            return upstream, self._call(
                upstream, route, method, target, headers, body, keep_last=keep_last
            )
        except Unavailable as exc:
            if decision.fallback is None or decision.fallback == decision.target:
                raise
            fallback = self.upstreams.get(decision.fallback)
            FALLBACKS.labels(decision.route_name, upstream.name, fallback.name).inc()
            logger.warning(
                "fallback %s -> %s for %s (%s)", upstream.name, fallback.name, target, exc.kind
            )
            return fallback, self._call(fallback, route, method, target, headers, body)

    def _call(
        self,
        upstream: UpstreamRuntime,
        route: Route | None,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        *,
        preload: bool = False,
        keep_last: bool = True,
    ) -> Response:
        """Retries what may be retried; a last 5xx is returned when `keep_last`, else raised."""
        config = upstream.config
        retry = (route.retry if route and route.retry else None) or config.retry
        timeout = route.timeout if route is not None and route.timeout is not None else None
        timeout = timeout or config.timeout
        upstream.refresh()
        out = [(k, v) for k, v in headers if k.lower() not in _SET_BY_CLIENT]
        key_header = {k: v for k, v in out if k.lower() == "idempotency-key"}
        out.append(("Host", ""))
        attempts = retry.attempts if may_retry(method, key_header) else 1
        if not upstream.bulkhead.acquire(blocking=False):
            UPSTREAM_ERRORS.labels(upstream.name, "bulkhead_full").inc()
            raise Unavailable(
                "bulkhead_full",
                f"{upstream.name} is at its concurrency cap",
                status=503,
                retry_after=1,
            )
        try:
            tried: list = []
            last: Unavailable | None = None
            for attempt in range(attempts):
                if attempt:
                    time.sleep(backoff_delay(attempt, base=retry.backoff, cap=retry.max_backoff))
                try:
                    instance = upstream.pool.pick(exclude=tried)
                except LookupError:
                    UPSTREAM_ERRORS.labels(upstream.name, "no_instance").inc()
                    raise Unavailable(
                        "no_instance",
                        f"{upstream.name} has no instances",
                        status=503,
                        retry_after=1,
                    ) from None
                tried.append(instance)
                out[-1] = ("Host", _host_header(instance.url, headers, config.preserve_host))
                try:
                    with upstream.breaker.calling():
                        raw = self._send(instance.url, method, target, out, body, timeout, preload)
                        if raw.status in retry.on_status:
                            raise _BadStatus(raw)
                except pybreaker.CircuitBreakerError as exc:
                    upstream.pool.release(instance, ok=None)
                    cause = exc.__cause__ or exc.__context__
                    if isinstance(cause, _BadStatus):
                        cause.response.close()
                    UPSTREAM_ERRORS.labels(upstream.name, "breaker_open").inc()
                    raise Unavailable(
                        "circuit_open",
                        f"{upstream.name} is failing; its circuit is open",
                        status=503,
                        retry_after=breaker_retry_after(upstream.breaker),
                    ) from None
                except _BadStatus as exc:
                    upstream.pool.release(instance, ok=False)
                    UPSTREAM_ERRORS.labels(upstream.name, "status").inc()
                    if attempt + 1 == attempts and keep_last:
                        return exc.response  # the client sees the upstream's own last answer
                    exc.response.drain_conn()
                    exc.response.release_conn()
                    last = Unavailable(
                        "upstream_status",
                        f"{upstream.name} answered {exc.response.status}",
                        status=502,
                    )
                    continue
                except urllib3.exceptions.HTTPError as exc:
                    upstream.pool.release(instance, ok=False)
                    kind = _error_kind(exc)
                    UPSTREAM_ERRORS.labels(upstream.name, kind).inc()
                    last = Unavailable(
                        "upstream_" + kind,
                        f"{upstream.name}: {kind} error",
                        status=504 if kind == "timeout" else 502,
                    )
                    continue
                upstream.pool.release(instance, ok=True)
                return raw
            assert last is not None
            raise last
        finally:
            upstream.bulkhead.release()

    def _send(self, base, method, target, headers, body, timeout, preload) -> Response:
        return self.client.request(
            base,
            method,
            target,
            headers,
            body,
            connect_timeout=timeout.connect,
            read_timeout=timeout.read,
            preload=preload,
        )

    # --- answering ---------------------------------------------------------------------

    def _reply(
        self,
        raw: Response,
        upstream: UpstreamRuntime,
        route_label: str,
        public_origin: str,
        method: str,
        request_id: str,
    ) -> Reply:
        headers = h.response_headers(
            raw.headers.items(),
            upstream_origins=self.upstreams.origins,
            public_origin=public_origin,
        )
        headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]  # one, ours
        headers.append((REQUEST_ID_HEADER, request_id))
        length = raw.headers.get("Content-Length")
        small = (
            method == "HEAD"
            or raw.status in (204, 304)
            or (
                length is not None and length.isdigit() and int(length) <= self.options.buffer_limit
            )
        )
        if not small:
            return Reply(raw.status, raw.reason, headers, _stream(raw, upstream.name, route_label))
        try:
            data = raw.read(decode_content=False)
        except urllib3.exceptions.HTTPError:
            raw.close()
            UPSTREAM_ERRORS.labels(upstream.name, "protocol").inc()
            return problem_reply(
                502, "upstream_protocol", "The upstream answer broke off.", request_id
            )
        raw.release_conn()
        return Reply(raw.status, raw.reason, headers, data)

    def _shadow(self, decision, method, target, headers, body, request_id, raw, reply) -> None:
        route = decision.route
        candidate = self.upstreams.get(decision.shadow_to)
        extra = [(SHADOW_HEADER, "1")]
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            extra.append((DRY_RUN_HEADER, "1"))
        shadow_headers = [(k, v) for k, v in headers if not k.lower().startswith("x-strangler-")]
        shadow_headers += extra

        def call() -> Answer:
            answer = self._call(candidate, None, method, target, shadow_headers, body, preload=True)
            return Answer(
                answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.data
            )

        primary = Answer(raw.status, {k.lower(): v for k, v in raw.headers.items()}, reply.body)
        self.shadow.submit(
            route=route.name,
            method=method,
            target=target,
            request_id=request_id,
            primary=primary,
            call=call,
            ignore_fields=route.shadow_ignore_fields,
            ignore_headers=route.shadow_ignore_headers,
            request_headers=shadow_headers,  # for traffic capture (secrets stripped there)
            body=body,
        )


def _stream(raw: Response, upstream: str, route: str) -> Iterator[bytes]:
    """Relays the body as it arrives; a client that goes away closes the upstream connection."""
    done = False
    try:
        yield from raw.stream(CHUNK, decode_content=False)
        done = True
    except urllib3.exceptions.HTTPError:
        UPSTREAM_ERRORS.labels(upstream, "protocol").inc()
        raise
    except GeneratorExit:
        CLIENT_DISCONNECTS.labels(route).inc()
        raise
    finally:
        if done:
            raw.release_conn()
        else:
            raw.close()


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


def _client_ip(meta: dict) -> str:
    return meta.get("REMOTE_ADDR", "") or "unknown"


def _host_header(base: str, headers: list[tuple[str, str]], preserve: bool) -> str:
    if preserve:
        for name, value in headers:
            if name.lower() == "x-forwarded-host":
                return value.rsplit(",", 1)[-1].strip()
    return base.split("://", 1)[1]


def _error_kind(exc: Exception) -> str:
    if isinstance(
        exc, urllib3.exceptions.ConnectTimeoutError | urllib3.exceptions.NewConnectionError
    ):
        return "connect"
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return "timeout"
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return "protocol"
    return "connect"


def _inject_trace(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Our span becomes the upstream's parent (W3C traceparent/tracestate)."""
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier:
        return headers
    names = {k.lower() for k in carrier}
    return [(k, v) for k, v in headers if k.lower() not in names] + list(carrier.items())
