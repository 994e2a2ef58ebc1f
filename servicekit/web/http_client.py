"""A resilient service-to-service HTTP client: discovery, balancing, timeouts, retries, breaker.

`ServiceClient` resolves a service through a registry (servicekit.web.discovery.registry), balances over its
instances itself (client-side), retries idempotent calls with exponential backoff and full
jitter, and trips a pybreaker circuit breaker (shared through Redis when a client is given).

A 503 (or 429, where asked) with `Retry-After` is honoured: a short wait (up to
`max_retry_after`) is waited out before the retry; a longer one ends the retries at once, and the
`UpstreamError` raised carries `retry_after`, for the caller to pass on to its own client.
"""

from __future__ import annotations

import contextvars
import json as jsonlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import pybreaker
import urllib3

from servicekit.web import cooperative
from servicekit.web.backoff import backoff_delay
from servicekit.web.discovery.balancers import InstancePool
from servicekit.web.discovery.registry import Registry
from servicekit.web.tls import urllib3_options

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_STATUSES = frozenset({502, 503, 504})
T = TypeVar("T")


class UpstreamError(Exception):
    """The service could not answer: no instance, connection failure, timeout or a 5xx.

    `retry_after`: seconds the service asked for (`Retry-After`) in its last answer, if any."""

    retry_after: float | None = None


class UpstreamStatusError(UpstreamError):
    def __init__(self, status: int, *, retry_after: float | None = None):
        super().__init__(f"upstream answered {status}")
        self.status = status
        self.retry_after = retry_after


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now (delay-seconds or an HTTP date); None when absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def asked_to_wait(status: int, retry_after: str | None) -> float | None:
    """Seconds a 503 or 429 with a readable `Retry-After` asks its caller to wait; None for any
    other answer. The service is up and said when to come back (a handover's freeze, a rate
    limit): a breaker must not count it as a failure (every client here, and the proxy)."""
    if status not in (429, 503):
        return None
    return retry_after_seconds(retry_after)


class UpstreamAskedToWait(UpstreamStatusError):
    """A 503 or 429 with `Retry-After`: the service is up and said when to come back (a handover,
    a rate limit). Not a failure for the breaker: a handover must not open it for its reset."""


def may_retry(method: str, headers: dict[str, str] | None = None) -> bool:
    """Idempotent methods, or a POST/PATCH carrying an Idempotency-Key."""
    if method.upper() in IDEMPOTENT_METHODS:
        return True
    return any(k.lower() == "idempotency-key" for k in (headers or {}))


class SharedBreakerStorage(pybreaker.CircuitRedisStorage):
    """pybreaker's Redis storage with one round trip per successful call instead of two.

    pybreaker reads the state before every call (GET) and resets the failure counter after every
    success (SET), which doubled the Redis cost of each proxied request (in-process, 171 -> 376
    us wall per request). Here the state read also reads the counter (one MGET), and a success
    resets it only when that read saw failures, or when this caller (thread, or request under
    servicekit.web.cooperative) failed since. A failure in
    another process between the read and the success is reset by the next call that reads it
    (as before, "consecutive" across processes is only as exact as their interleaving)."""

    def __init__(self, state: str, redis_object: Any, *args: Any, **kwargs: Any):
        # (a proxy request served on the event loop's thread makes its round trips elsewhere)
        super().__init__(state, cooperative.Offloaded(redis_object), *args, **kwargs)
        self._key = self._namespace("")

    @property
    def state(self) -> str:
        try:
            state, failures = self._redis.mget(
                self._namespace("state"), self._namespace("fail_counter")
            )
        except pybreaker.RedisError:
            self.logger.exception("RedisError: falling back to default circuit state")
            _seen()[self._key] = None
            return self._fallback_circuit_state
        _seen()[self._key] = failures
        if state is None:  # missing (flushed, expired): re-initialised as pybreaker does
            self._initialize_redis_state(self._fallback_circuit_state)
            return self._fallback_circuit_state
        return state.decode() if isinstance(state, bytes) else state

    @state.setter
    def state(self, state: str) -> None:
        pybreaker.CircuitRedisStorage.state.fset(self, state)

    def increment_counter(self) -> None:
        _seen()[self._key] = None  # this caller's own failure: its next success resets
        super().increment_counter()

    def reset_counter(self) -> None:
        if _seen().get(self._key) in (b"0", "0"):
            return  # the counter was 0 when this call began: nothing to reset
        super().reset_counter()
        _seen()[self._key] = b"0"


# What each caller's last state read saw, per breaker: a context variable, so a thread's own
# (a worker thread's context lasts as long as it does) and a request's own when requests share a
# thread as greenlets (servicekit.web.cooperative: each greenlet runs in a context of its own).
_SEEN: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("breaker_seen")


def _seen() -> dict[str, Any]:
    try:
        return _SEEN.get()
    except LookupError:
        seen: dict[str, Any] = {}
        _SEEN.set(seen)
        return seen


def make_breaker(
    name: str,
    *,
    fail_max: int,
    reset_timeout: float,
    redis_client: Any | None = None,
    redis_prefix: str = "strangler",
) -> pybreaker.CircuitBreaker:
    """A breaker whose state lives in Redis (shared by every process) when a client is given,
    under the deployment's key prefix."""
    storage = None
    if redis_client is not None:
        storage = SharedBreakerStorage(
            pybreaker.STATE_CLOSED, redis_client, namespace=f"{redis_prefix}:breaker:{name}"
        )
    return pybreaker.CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_timeout,
        state_storage=storage,
        name=name,
        exclude=[UpstreamAskedToWait],
    )


def through(breaker: pybreaker.CircuitBreaker, fn: Callable[..., T], /, *args: Any) -> T:
    """`fn(*args)` under `breaker`, as `with breaker.calling(): return fn(*args)` would run it.

    Not pybreaker's `call`: it holds the breaker's lock for the whole call, so threads calling
    one service waited for each other's round trips. Nor `calling()` when a success would change
    nothing (a closed breaker kept in this process, no failure counted, no listener that hears
    calls begin): three generators deep per call, about 5 % of what the proxy spends forwarding
    a request. Then `fn` is called directly and its listeners hear its success; a failure is
    handed to pybreaker, which counts it (or not: `exclude`), tells the listeners and may open
    the breaker, as it would have."""
    storage = breaker._state_storage
    listeners = breaker.listeners
    if (
        type(storage) is not pybreaker.CircuitMemoryStorage
        or storage.counter
        or storage.state != pybreaker.STATE_CLOSED
        or not _only_after_calls(listeners)
    ):
        with breaker.calling():
            return fn(*args)
    try:
        result = fn(*args)
    except BaseException as exc:
        breaker.call(_raise, exc)  # raises it, or CircuitBreakerError when this failure trips
        raise
    for listener in listeners:
        listener.success(breaker)
    return result


def _only_after_calls(listeners: tuple) -> bool:
    """Whether no listener hears a call begin (`before_call`: pybreaker's no-op, as for
    servicekit.web.metrics.BreakerMetricsListener): a failure handed to pybreaker after the call
    then tells them nothing twice."""
    for listener in listeners:
        if getattr(type(listener), "before_call", None) is not _SILENT_BEFORE_CALL:
            return False
    return True


_SILENT_BEFORE_CALL = pybreaker.CircuitBreakerListener.before_call


def _raise(exc: BaseException) -> None:
    raise exc


def breaker_retry_after(breaker: pybreaker.CircuitBreaker) -> int:
    """Seconds until an open breaker lets a trial call through (at least 1)."""
    opened = breaker._state_storage.opened_at
    if opened is None:
        return max(1, int(breaker.reset_timeout))
    elapsed = (datetime.now(UTC) - opened).total_seconds()
    return max(1, int(breaker.reset_timeout - elapsed + 0.999))


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    data: bytes
    url: str

    def json(self) -> Any:
        return jsonlib.loads(self.data)


class ServiceClient:
    """Calls one service by name; build it once per process and reuse it (it holds the pools)."""

    def __init__(
        self,
        service: str,
        *,
        registry: Registry,
        balancer: str = "round_robin",
        connect_timeout: float = 1.0,
        read_timeout: float = 5.0,
        attempts: int = 3,
        backoff: float = 0.05,
        max_backoff: float = 1.0,
        breaker: pybreaker.CircuitBreaker | None = None,
        pool_manager: urllib3.PoolManager | None = None,
        default_headers: dict[str, str] | None = None,
        retry_statuses: frozenset[int] = RETRY_STATUSES,
        max_retry_after: float = 2.0,
    ):
        self.service = service
        self.registry = registry
        self.pool = InstancePool(registry.instances(service), balancer=balancer)
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.breaker = breaker or make_breaker(service, fail_max=5, reset_timeout=30)
        # under mTLS (servicekit.web.tls) the pool presents this process's certificate
        self.http = pool_manager or urllib3.PoolManager(maxsize=10, **urllib3_options())
        self.default_headers = default_headers or {}
        self.retry_statuses = retry_statuses
        # a Retry-After longer than this is not waited out here: the caller's client hears it
        self.max_retry_after = max_retry_after

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        key: str | None = None,
        retry: bool | None = None,
    ) -> Response:
        """Retries only what may be retried (`retry=True`: a call the caller knows is safe to
        repeat, such as a login); raises UpstreamError or CircuitBreakerError."""
        method = method.upper()
        headers = {**self.default_headers, **(headers or {})}
        if json is not None:
            body = jsonlib.dumps(json).encode()
            headers.setdefault("Content-Type", "application/json")
        retryable = may_retry(method, headers) if retry is None else retry
        attempts = self.attempts if retryable else 1
        tried: list = []
        last: Exception | None = None
        asked: float | None = None  # the last answer's Retry-After
        for attempt in range(attempts):
            if attempt:
                delay = backoff_delay(attempt, base=self.backoff, cap=self.max_backoff)
                time.sleep(max(delay, asked or 0.0))
            self.pool.update(self.registry.instances(self.service))
            try:
                instance = self.pool.pick(key, exclude=tried)
            except LookupError as exc:
                raise UpstreamError(f"{self.service}: no instances") from exc
            tried.append(instance)
            try:
                response = through(
                    self.breaker, self._once, method, instance.url + path, body, headers
                )
            except pybreaker.CircuitBreakerError:
                self.pool.release(instance, ok=None)
                raise
            except (urllib3.exceptions.HTTPError, UpstreamStatusError) as exc:
                self.pool.release(instance, ok=False)
                last = exc
                asked = exc.retry_after if isinstance(exc, UpstreamStatusError) else None
                if asked is not None and asked > self.max_retry_after:
                    break  # longer than we wait here: the caller passes it on
                continue
            self.pool.release(instance, ok=True)
            return response
        error = UpstreamError(f"{self.service}: {last}")
        error.retry_after = asked
        raise error from last

    def _once(self, method: str, url: str, body: bytes | None, headers: dict) -> Response:
        raw = self.http.request(
            method,
            url,
            body=body,
            headers=headers,
            timeout=self.timeout,
            retries=False,
            redirect=False,
        )
        if raw.status in self.retry_statuses:
            asked = asked_to_wait(raw.status, raw.headers.get("Retry-After"))
            if asked is not None:
                raise UpstreamAskedToWait(raw.status, retry_after=asked)
            raise UpstreamStatusError(
                raw.status, retry_after=retry_after_seconds(raw.headers.get("Retry-After"))
            )
        return Response(raw.status, dict(raw.headers), raw.data, url)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Response:
        return self.request("POST", path, **kwargs)
