"""A resilient gRPC client, the unary counterpart of `http_client.ServiceClient`.

Each call has a deadline; idempotent reads are retried on UNAVAILABLE with the one backoff
(servicekit.web.backoff); the same pybreaker breaker guards the target; the correlation id
(`x-request-id`) and W3C trace context (`traceparent`, `tracestate`) ride in the metadata.
Failures raise the http_client's errors, so a caller maps both transports to one answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
import pybreaker
from opentelemetry import propagate

from servicekit.web.backoff import backoff_delay
from servicekit.web.http_client import UpstreamError, make_breaker, through

REQUEST_ID_KEY = "x-request-id"
TRACE_KEYS = ("traceparent", "tracestate")
# The caller's mistake, not the server's health: answered, passed on, never counted by the breaker.
REFUSAL_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
    }
)
RETRY_CODES = frozenset({grpc.StatusCode.UNAVAILABLE})


class UpstreamRefused(Exception):
    """The server answered with a refusal (bad argument, not found...): `code`, `details`."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class UpstreamTimeout(UpstreamError):
    """No answer within the call's deadline."""


def call_metadata(
    *, request_id: str | None = None, traceparent: str | None = None
) -> list[tuple[str, str]]:
    """`x-request-id` and the W3C trace context: the current span's when there is one, else the
    incoming request's `traceparent` passed on as it came."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if "traceparent" not in carrier and traceparent:
        carrier["traceparent"] = traceparent
    metadata = [(key, carrier[key]) for key in TRACE_KEYS if key in carrier]
    if request_id:
        metadata.append((REQUEST_ID_KEY, request_id))
    return metadata


class GrpcClient:
    """Calls one service's gRPC target; build it once per process (it holds the channel)."""

    def __init__(
        self,
        service: str,
        *,
        target: str,
        deadline: float = 1.0,
        attempts: int = 3,
        backoff: float = 0.05,
        max_backoff: float = 1.0,
        breaker: pybreaker.CircuitBreaker | None = None,
        channel: grpc.Channel | None = None,
    ):
        self.service = service
        self.target = target
        self.deadline = deadline
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.breaker = breaker or make_breaker(f"{service}-grpc", fail_max=5, reset_timeout=30)
        self.breaker.add_excluded_exception(UpstreamRefused)
        self.channel = channel or grpc.insecure_channel(target)

    def call(
        self,
        method: Callable[..., Any],
        request: Any,
        *,
        idempotent: bool,
        request_id: str | None = None,
        traceparent: str | None = None,
        deadline: float | None = None,
    ) -> Any:
        """`method` is a stub's bound method (`PricingStub(client.channel).QuoteSkus`). Raises
        UpstreamRefused, UpstreamTimeout, UpstreamError or pybreaker.CircuitBreakerError."""
        metadata = call_metadata(request_id=request_id, traceparent=traceparent)
        timeout = self.deadline if deadline is None else deadline
        attempts = self.attempts if idempotent else 1
        last: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(backoff_delay(attempt, base=self.backoff, cap=self.max_backoff))
            try:
                return through(self.breaker, self._once, method, request, metadata, timeout)
            except UpstreamTimeout:
                raise  # the deadline was the caller's whole budget: no second try
            except UpstreamError as exc:
                last = exc
                if exc.__cause__ is None or exc.__cause__.code() not in RETRY_CODES:  # type: ignore[attr-defined]
                    raise
        raise UpstreamError(f"{self.service}: {last}") from last

    def _once(self, method: Callable[..., Any], request: Any, metadata: list, timeout: float):
        try:
            return method(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as exc:
            code = exc.code()  # type: ignore[attr-defined]
            details = exc.details() or ""  # type: ignore[attr-defined]
            if code in REFUSAL_CODES:
                raise UpstreamRefused(code, details) from exc
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise UpstreamTimeout(
                    f"{self.service}: no answer within the {timeout:g} s deadline"
                ) from exc
            raise UpstreamError(f"{self.service}: {code.name} {details}".strip()) from exc

    def close(self) -> None:
        self.channel.close()
