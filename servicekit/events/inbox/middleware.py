"""What the inbox does around its processor, as middleware (the way dramatiq keeps
cross-cutting concerns in dramatiq/middleware/): tracing, echo protection, metrics.

The processor applies events once and in order; each middleware wraps a handler call or hears
what became of an event. Every hook is optional.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime

import structlog
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from servicekit.events.envelope import Envelope
from servicekit.events.metrics import INBOX_APPLIED, INBOX_DUPLICATES, INBOX_LAG, INBOX_PARKED
from servicekit.events.outbox.echo import applying_event

_PROPAGATOR = TraceContextTextMapPropagator()
tracer = trace.get_tracer("servicekit.inbox")


class InboxMiddleware:
    """Hooks around one consumer's processor; subclasses override what they need."""

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
    """Continue the producer's trace and correlation id in the handler (logs and spans)."""

    @contextlib.contextmanager
    def around_handler(self, consumer: str, envelope: Envelope) -> Iterator[None]:
        parent = _PROPAGATOR.extract(
            {"traceparent": envelope.traceparent, "tracestate": envelope.tracestate}
        )
        with (
            structlog.contextvars.bound_contextvars(
                correlation_id=envelope.correlation_id,
                request_id=envelope.correlation_id,
                event_id=str(envelope.event_id),
            ),
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
