"""Forwarding to an upstream: bulkhead, balancer pick, breaker, retries with backoff, fallback."""

from __future__ import annotations

import logging
from operator import itemgetter

import pybreaker

from servicekit.web import cooperative
from servicekit.web.backoff import backoff_delay
from servicekit.web.http_client import (
    UpstreamAskedToWait,
    asked_to_wait,
    breaker_retry_after,
    may_retry,
    through,
)
from strangler_proxy.metrics import FALLBACKS, UPSTREAM_ERRORS
from strangler_proxy.routes.model import RetryPolicy, Route, Timeout
from strangler_proxy.routes.resolve import Decision
from strangler_proxy.upstream.client import Client, ConnectError, Response, TransportError
from strangler_proxy.upstream.fields import kept
from strangler_proxy.upstream.pool import UpstreamRuntime, Upstreams

logger = logging.getLogger("strangler_proxy")
# Framing and Host are the client's to write, never copied from the incoming request.
_SET_BY_CLIENT = frozenset({"host", "content-length", "transfer-encoding"})
# What may go to the fallback after the candidate may have seen it. Not PUT or DELETE, nor a
# write with an Idempotency-Key: those are safe to repeat on one service, whose store remembers
# the key, but the fallback is another system that never saw the first try.
FALLBACK_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class Unavailable(Exception):
    """No answer from an upstream; `status` and `retry_after` say what the client gets.
    `sent`: the request may have reached the upstream (a timeout, a broken answer, a 5xx),
    so it may have been applied there; False when nothing left (connect error, open breaker,
    bulkhead full, no instance)."""

    def __init__(
        self,
        kind: str,
        detail: str,
        *,
        status: int = 502,
        retry_after: int | None = None,
        sent: bool = False,
    ):
        super().__init__(detail)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.sent = sent


class _BadStatus(Exception):
    """A retryable 5xx, raised inside the breaker so that it counts as a failure."""

    def __init__(self, response: Response):
        super().__init__(f"upstream answered {response.status}")
        self.response = response


class _AskedToWait(UpstreamAskedToWait):
    """A retryable 503 (or 429) with `Retry-After`: the upstream is up and asked to wait (a
    handover's write freeze). Raised inside the breaker, which does not count it (the breakers
    of `make_breaker` exclude it), and otherwise handled as a bad status: retried where that may
    be, the last one given to the client with its Retry-After."""

    def __init__(self, response: Response, retry_after: float):
        super().__init__(response.status, retry_after=retry_after)
        self.response = response


class Forwarder:
    """Sends a request to the upstream a decision names, with that upstream's policies."""

    def __init__(self, *, upstreams: Upstreams, client: Client):
        self.upstreams = upstreams
        self.client = client

    def forward(
        self,
        decision: Decision,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
    ) -> tuple[UpstreamRuntime, Response]:
        """The decision's target, else its fallback (when it has one) if the target fails:
        at once when nothing was sent, after a timeout or a 5xx only for safe methods (a write
        the candidate may have committed is never applied a second time by the fallback)."""
        route = decision.route
        upstream = self.upstreams.get(decision.target)
        fallback_name = decision.fallback if decision.fallback != decision.target else None
        safe = method in FALLBACK_SAFE
        try:
            return upstream, self.call(
                upstream,
                route,
                method,
                target,
                headers,
                body,
                keep_last=fallback_name is None or not safe,
            )
        except Unavailable as exc:
            if fallback_name is None or (exc.sent and not safe):
                raise
            fallback = self.upstreams.get(fallback_name)
            FALLBACKS.labels(decision.route_name, upstream.name, fallback.name).inc()
            logger.warning(
                "fallback %s -> %s for %s (%s)", upstream.name, fallback.name, target, exc.kind
            )
            return fallback, self.call(fallback, route, method, target, headers, body)

    def call(
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
        retry, timeout = _policies(upstream, route)
        upstream.refresh()
        out = kept(headers, map(str.lower, map(itemgetter(0), headers)), _SET_BY_CLIENT)
        retryable = may_retry(method) or may_retry(
            method, {k: v for k, v in out if k.lower() == "idempotency-key"}
        )
        out.append(("Host", ""))
        attempts = retry.attempts if retryable else 1
        if not upstream.bulkhead.enter():
            raise _bulkhead_full(upstream)
        try:
            tried: list = []
            last: Unavailable | None = None
            sent = False
            for attempt in range(attempts):
                if attempt:
                    cooperative.sleep(
                        backoff_delay(attempt, base=retry.backoff, cap=retry.max_backoff)
                    )
                try:
                    instance = _pick(upstream, tried)
                    out[-1] = ("Host", _host_header(instance.url, headers, upstream.config))
                    return self._attempt(
                        upstream, instance, retry, method, target, out, body, timeout, preload
                    )
                except Unavailable as exc:  # breaker open, no instance: an earlier try may count
                    exc.sent = exc.sent or sent
                    raise
                except (_BadStatus, _AskedToWait) as exc:
                    sent = True
                    UPSTREAM_ERRORS.labels(upstream.name, "status").inc()
                    if attempt + 1 == attempts and keep_last:
                        return exc.response  # the client sees the upstream's own last answer
                    exc.response.drain_conn()
                    exc.response.release_conn()
                    detail = f"{upstream.name} answered {exc.response.status}"
                    last = Unavailable("upstream_status", detail, status=502, sent=True)
                except TransportError as exc:
                    UPSTREAM_ERRORS.labels(upstream.name, exc.kind).inc()
                    sent = sent or not isinstance(exc, ConnectError)
                    last = Unavailable(
                        "upstream_" + exc.kind,
                        f"{upstream.name}: {exc.kind} error",
                        status=504 if exc.kind == "timeout" else 502,
                        sent=sent,
                    )
            assert last is not None
            raise last
        finally:
            upstream.bulkhead.leave()

    def _attempt(
        self,
        upstream: UpstreamRuntime,
        instance,
        retry: RetryPolicy,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeout: Timeout,
        preload: bool,
    ) -> Response:
        """One try on one instance through the breaker; the instance's health is told after."""
        try:
            raw = through(
                upstream.breaker,
                self._send,
                instance.url,
                retry,
                method,
                target,
                headers,
                body,
                timeout,
                preload,
            )
        except pybreaker.CircuitBreakerError as exc:
            upstream.pool.release(instance, ok=None)
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, (_BadStatus, _AskedToWait)):
                cause.response.close()
            UPSTREAM_ERRORS.labels(upstream.name, "breaker_open").inc()
            raise Unavailable(
                "circuit_open",
                f"{upstream.name} is failing; its circuit is open",
                status=503,
                retry_after=breaker_retry_after(upstream.breaker),
            ) from None
        except _AskedToWait:
            upstream.pool.release(instance, ok=None)  # up, and busy for a moment: not a failure
            raise
        except (_BadStatus, TransportError):
            upstream.pool.release(instance, ok=False)
            raise
        upstream.pool.release(instance, ok=True)
        return raw

    def _send(
        self,
        base: str,
        retry: RetryPolicy,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        timeout: Timeout,
        preload: bool,
    ) -> Response:
        """The request sent; a status the policy retries raised, so the breaker counts it."""
        raw = self.client.request(
            base,
            method,
            target,
            headers,
            body,
            connect_timeout=timeout.connect,
            read_timeout=timeout.read,
            preload=preload,
        )
        if raw.status in retry.on_status:
            asked = asked_to_wait(raw.status, raw.headers.get("Retry-After"))
            raise _BadStatus(raw) if asked is None else _AskedToWait(raw, asked)
        return raw


def _policies(upstream: UpstreamRuntime, route: Route | None) -> tuple[RetryPolicy, Timeout]:
    """The route's retry and timeout where it sets them, else the upstream's."""
    config = upstream.config
    retry = (route.retry if route and route.retry else None) or config.retry
    timeout = route.timeout if route is not None and route.timeout is not None else None
    return retry, timeout or config.timeout


def _bulkhead_full(upstream: UpstreamRuntime) -> Unavailable:
    UPSTREAM_ERRORS.labels(upstream.name, "bulkhead_full").inc()
    return Unavailable(
        "bulkhead_full",
        f"{upstream.name} is at its concurrency cap",
        status=503,
        retry_after=1,
    )


def _pick(upstream: UpstreamRuntime, tried: list):
    try:
        instance = upstream.pool.pick(exclude=tried)
    except LookupError:
        UPSTREAM_ERRORS.labels(upstream.name, "no_instance").inc()
        raise Unavailable(
            "no_instance", f"{upstream.name} has no instances", status=503, retry_after=1
        ) from None
    tried.append(instance)
    return instance


def _host_header(base: str, headers: list[tuple[str, str]], config) -> str:
    if config.preserve_host:
        # the edge's own, the last (strangler_proxy/edge/headers.py drops a client's and adds it)
        for name, value in reversed(headers):
            if name.lower() == "x-forwarded-host":
                return value.rsplit(",", 1)[-1].strip()
    return base.split("://", 1)[1]
