"""The inbox's Tracing middleware: the producer's trace and request id continue in the handler,
with a real tracer provider (a consumer span) and without one (OpenTelemetry's no-op default)."""

from __future__ import annotations

import uuid

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts.catalog import ProductCreatedV1, ProductPriceChangedV1
from contracts.registry import EVENT_TYPES
from servicekit.events.envelope import Envelope
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import EventConsumer
from servicekit.events.outbox import OutboxMessage, outbox_enqueue
from tests.events import support

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PRODUCER_SPAN_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PRODUCER_SPAN_ID}-01"


def deriving_consumer(seen: dict) -> EventConsumer:
    """Records the handler's log context and current span, and writes an event of its own."""
    consumer = EventConsumer(f"tests.tracing.{uuid.uuid4().hex[:8]}", event_types=EVENT_TYPES)

    @consumer.on(ProductCreatedV1)
    def handle(event: ProductCreatedV1, envelope: Envelope) -> None:
        seen[event.sku] = (structlog.contextvars.get_contextvars(), trace.get_current_span())
        outbox_enqueue(
            ProductPriceChangedV1(
                sku=f"{event.sku}-derived", old_price="1.00", new_price="2.00", currency="EUR"
            )
        )

    return consumer


def written_by_handler(sku: str) -> OutboxMessage:
    return OutboxMessage.objects.get(aggregate_id=f"{sku}-derived")


@pytest.fixture
def monolith_outbox(settings):
    settings.SERVICEKIT_EVENTS = {"SERVICE": "monolith"}


@pytest.mark.django_db(transaction=True)
def test_without_a_tracer_provider_the_handler_continues_the_producers_trace(monolith_outbox):
    # given: no tracer provider set (OpenTelemetry's default: no-op), one event from a traced
    # request and one from an untraced one
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    seen: dict = {}
    processor = InboxProcessor(deriving_consumer(seen))
    traced = support.product_created("A", traceparent=TRACEPARENT, correlation_id="req-a")
    untraced = support.product_created("B", traceparent="", correlation_id="req-b")

    # when
    processor.process([untraced, traced])

    # then: the handler's own event carries the producer's trace context as it came (a no-op
    # tracer's span is the parent's)
    assert written_by_handler("A").traceparent == TRACEPARENT
    assert written_by_handler("B").traceparent == ""
    assert [written_by_handler(sku).correlation_id for sku in "AB"] == ["req-a", "req-b"]
    log_context, span = seen["A"]
    assert log_context == {
        "correlation_id": "req-a",
        "request_id": "req-a",
        "event_id": str(traced.event_id),
    }
    assert not span.is_recording()
    assert format(span.get_span_context().span_id, "016x") == PRODUCER_SPAN_ID
    assert seen["B"][0]["event_id"] == str(untraced.event_id)
    assert not seen["B"][1].get_span_context().is_valid
    # and afterwards the worker's own context is as it was
    assert structlog.contextvars.get_contextvars() == {}
    assert trace.get_current_span() is trace.INVALID_SPAN


@pytest.mark.django_db(transaction=True)
def test_with_an_sdk_tracer_provider_each_event_gets_a_consumer_span(monolith_outbox, monkeypatch):
    # given: a processor made before the SDK's provider is set (as a process may configure its
    # telemetry after building the worker)
    seen: dict = {}
    consumer = deriving_consumer(seen)
    processor = InboxProcessor(consumer)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    incoming = support.product_created("A", traceparent=TRACEPARENT, correlation_id="req-a")

    # when
    processor.process([incoming])

    # then: a recording consumer span, child of the producer's, current in the handler
    (span,) = exporter.get_finished_spans()
    assert span.name == f"{ProductCreatedV1.event_type} process"
    assert span.kind == trace.SpanKind.CONSUMER
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == PRODUCER_SPAN_ID
    assert span.attributes["messaging.consumer.group.name"] == consumer.name
    assert span.attributes["messaging.message.id"] == str(incoming.event_id)
    log_context, current = seen["A"]
    assert current.get_span_context().span_id == span.context.span_id
    assert log_context["request_id"] == "req-a"
    # and the handler's own event continues the trace from the consumer span
    span_id = format(span.context.span_id, "016x")
    assert written_by_handler("A").traceparent == f"00-{TRACE_ID}-{span_id}-01"
