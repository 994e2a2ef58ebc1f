"""outbox_enqueue: one row per event, in the caller's transaction, with a complete envelope."""

from __future__ import annotations

import pytest
import structlog
from django.db import transaction
from opentelemetry.sdk.trace import TracerProvider

from contracts.catalog import ProductPriceChangedV1, StockChangedV1
from servicekit.events.envelope import Envelope
from servicekit.events.outbox import OutboxMessage, OutboxUsageError, outbox_enqueue
from servicekit.events.outbox.echo import applying_event


def price_changed(sku: str = "SKU-1", new: str = "12.00") -> ProductPriceChangedV1:
    return ProductPriceChangedV1(sku=sku, old_price="10.00", new_price=new, currency="EUR")


@pytest.mark.django_db(transaction=True)
def test_outbox_enqueue_refuses_to_run_outside_a_transaction():
    with pytest.raises(OutboxUsageError):
        outbox_enqueue(price_changed())
    assert OutboxMessage.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_outbox_enqueue_rolls_back_with_the_business_transaction():
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox_enqueue(price_changed())
        raise RuntimeError("business rule failed")
    assert OutboxMessage.objects.count() == 0
    # the sequence counter rolled back too: the next event is still number 1
    with transaction.atomic():
        message = outbox_enqueue(price_changed())
    assert message.sequence == 1


@pytest.mark.django_db
def test_outbox_enqueue_writes_the_envelope(settings):
    settings.SERVICEKIT_EVENTS = {"SERVICE": "monolith"}
    provider = TracerProvider()
    tracer = provider.get_tracer("test")
    structlog.contextvars.bind_contextvars(request_id="req-123")
    try:
        with tracer.start_as_current_span("request") as span:
            first = outbox_enqueue(price_changed())
            second = outbox_enqueue(price_changed(new="13.00"))
            other = outbox_enqueue(price_changed(sku="SKU-2"))
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        structlog.contextvars.unbind_contextvars("request_id")

    assert (first.sequence, second.sequence, other.sequence) == (1, 2, 1)
    envelope = OutboxMessage.objects.get(pk=second.pk).to_envelope()
    assert envelope.event_type == "catalog.product_price_changed.v1"
    assert envelope.aggregate_key == ("product", "SKU-1")
    assert envelope.origin == "monolith"
    assert envelope.correlation_id == "req-123"
    assert envelope.traceparent.split("-")[1] == trace_id
    assert envelope.payload["new_price"] == "13.00"
    assert envelope.occurred_at.tzinfo is not None
    assert Envelope.from_json(envelope.to_json()) == envelope


@pytest.mark.django_db
def test_outbox_enqueue_suppresses_the_echo_of_a_change_from_another_service(settings):
    settings.SERVICEKIT_EVENTS = {"SERVICE": "monolith"}
    with transaction.atomic():
        incoming = outbox_enqueue(StockChangedV1(sku="SKU-9", on_hand=5, reserved=0, reason="x"))
    foreign = Envelope(**{**incoming.to_envelope().__dict__, "origin": "catalog"})

    with applying_event(foreign):
        echoed = outbox_enqueue(StockChangedV1(sku="SKU-9", on_hand=5, reserved=0, reason="x"))
        unrelated = outbox_enqueue(StockChangedV1(sku="SKU-10", on_hand=1, reserved=0, reason="x"))

    assert echoed is None
    assert unrelated is not None
    assert unrelated.correlation_id == foreign.correlation_id
    assert OutboxMessage.objects.filter(aggregate_id="SKU-9").count() == 1
