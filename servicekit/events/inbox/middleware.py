"""What the inbox does around its processor, as middleware (the way dramatiq keeps
cross-cutting concerns in dramatiq/middleware/): tracing, echo protection, metrics.

The processor applies events once and in order; each middleware wraps a handler call or hears
what became of an event. Every hook is optional.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from datetime import datetime

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from servicekit.events.envelope import Envelope
from servicekit.events.metrics import INBOX_APPLIED, INBOX_DUPLICATES, INBOX_LAG, INBOX_PARKED
from servicekit.events.outbox.echo import applying_event

_PROPAGATOR = TraceContextTextMapPropagator()


class InboxMiddleware:
    """Hooks around one consumer's processor; subclasses override what they need."""

    def before_batch(self, consumer: str) -> None:
        """Events are about to be applied (a delivered batch, a sweep, a resume)."""

    def around_handler(
        self, consumer: str, envelope: Envelope
    ) -> contextlib.AbstractContextManager:
        """Entered around the handler call (and the savepoint, when there is one)."""
        return contextlib.nullcontext()

    def after_apply(self, consumer: str, envelope: Envelope, applied_at: datetime) -> None:
        """The event was applied (its transaction may still roll back and redo it)."""

    def after_duplicate(self, consumer: str, envelope: Envelope) -> None:
        """The event was applied before, or is parked already: skipped."""

    def after_park(self, consumer: str, envelope: Envelope, reason: str) -> None:
        """The event was parked: out of order, failed, or dead."""


class Tracing(InboxMiddleware):
    """Continue the producer's trace and correlation id in the handler (logs and spans).

    With a real tracer provider (the SDK's, set by `configure_observability`) each event gets a
    consumer span. With none (OpenTelemetry's default, a no-op) the producer's span context is
    made current instead: what a no-op tracer's span would carry, so the handler's outbox rows
    still continue the trace, without a span's cost. Which one is decided once per batch.
    """

    def __init__(self) -> None:
        self._provider: trace.TracerProvider | None = None
        self._tracer: trace.Tracer | None = None  # None: the provider is a no-op
        self.before_batch("")

    def before_batch(self, consumer: str) -> None:
        # The global provider may be set after this middleware was made (once, by
        # `configure_observability`): looked up per batch, its tracer made when it changes.
        provider = trace.get_tracer_provider()
        if provider is self._provider:
            return
        self._provider = provider
        noop = isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)
        self._tracer = None if noop else provider.get_tracer("servicekit.inbox")

    def around_handler(
        self, consumer: str, envelope: Envelope
    ) -> contextlib.AbstractContextManager:
        if self._tracer is None:
            return _Continued(envelope)
        return self._spanned(self._tracer, consumer, envelope)

    @contextlib.contextmanager
    def _spanned(self, tracer: trace.Tracer, consumer: str, envelope: Envelope) -> Iterator[None]:
        parent = _PROPAGATOR.extract(
            {"traceparent": envelope.traceparent, "tracestate": envelope.tracestate}
        )
        with (
            structlog.contextvars.bound_contextvars(**_log_context(envelope)),
            tracer.start_as_current_span(
                f"{envelope.event_type} process",
                context=parent,
                kind=trace.SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "rabbitmq",
                    "messaging.consumer.group.name": consumer,
                    "messaging.message.id": str(envelope.event_id),
                },
            ),
        ):
            yield


def _log_context(envelope: Envelope) -> dict[str, str]:
    return {
        "correlation_id": envelope.correlation_id,
        "request_id": envelope.correlation_id,
        "event_id": str(envelope.event_id),
    }


@functools.lru_cache(maxsize=256)  # the events of one request share their trace context
def _remote_parent(traceparent: str, tracestate: str) -> trace.Span:
    """The producer's span as a no-op tracer would make it current (not recording; immutable)."""
    if not traceparent:
        return trace.INVALID_SPAN
    carrier = {"traceparent": traceparent, "tracestate": tracestate}
    return trace.get_current_span(_PROPAGATOR.extract(carrier))


class _Continued:
    """The producer's span context current and the log context bound, for one handler call:
    what `Tracing` does under a no-op tracer (whose span is the parent's, not recording)."""

    __slots__ = ("_envelope", "_log_tokens", "_trace_token")

    def __init__(self, envelope: Envelope):
        self._envelope = envelope

    def __enter__(self) -> None:
        envelope = self._envelope
        parent = _remote_parent(envelope.traceparent, envelope.tracestate)
        self._log_tokens = structlog.contextvars.bind_contextvars(**_log_context(envelope))
        self._trace_token = otel_context.attach(trace.set_span_in_context(parent))

    def __exit__(self, *exc_info: object) -> None:
        otel_context.detach(self._trace_token)
        structlog.contextvars.reset_contextvars(**self._log_tokens)


class EchoProtection(InboxMiddleware):
    """Mark the handler's writes as applying this event, so the outbox does not send a mirrored
    change back to where it came from (servicekit.events.outbox.echo)."""

    def around_handler(
        self, consumer: str, envelope: Envelope
    ) -> contextlib.AbstractContextManager:
        return applying_event(envelope)


class Metrics(InboxMiddleware):
    """Applied, duplicate and parked counters and the lag histogram (label lookups cached)."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, str], tuple] = {}

    def after_apply(self, consumer: str, envelope: Envelope, applied_at: datetime) -> None:
        children = self._children.get((consumer, envelope.event_type))
        if children is None:
            children = self._children[(consumer, envelope.event_type)] = (
                INBOX_APPLIED.labels(consumer, envelope.event_type),
                INBOX_LAG.labels(consumer, envelope.event_type),
            )
        applied, lag = children
        applied.inc()
        lag.observe(max((applied_at - envelope.occurred_at).total_seconds(), 0.0))

    def after_duplicate(self, consumer: str, envelope: Envelope) -> None:
        INBOX_DUPLICATES.labels(consumer, envelope.event_type).inc()

    def after_park(self, consumer: str, envelope: Envelope, reason: str) -> None:
        INBOX_PARKED.labels(consumer, envelope.event_type, reason).inc()


def default_middleware() -> list[InboxMiddleware]:
    """In the order they wrap the handler: the trace first, so the rest runs inside it."""
    return [Tracing(), EchoProtection(), Metrics()]
