"""The inbox: once per event id, in sequence order per aggregate, failures parked and retried."""

from __future__ import annotations

import contextlib
import logging
import uuid

import pytest
from django.core.management import call_command
from django.db import connection
from psycopg import pq

from contracts.catalog import ProductCreatedV1, StockChangedV1
from contracts.registry import EVENT_TYPES
from servicekit.events.envelope import Envelope, now_utc
from servicekit.events.inbox.middleware import EchoProtection, InboxMiddleware, Metrics, Tracing
from servicekit.events.inbox.models import InboxParked, ParkedReason
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import EventConsumer
from tests.events import support


def envelope(sku: str, sequence: int, *, on_hand: int | None = None, name: str = "") -> Envelope:
    if sequence == 1:
        payload = {
            "sku": sku,
            "name": name or f"P {sku}",
            "description": "",
            "category": "c",
            "price": "1.00",
            "currency": "EUR",
            "is_active": True,
            "on_hand": 10,
            "reserved": 0,
        }
        event_type = "catalog.product_created.v1"
    else:  # an old-version event: the consumer upcasts it to v2
        event = StockChangedV1(
            sku=sku, on_hand=on_hand if on_hand is not None else sequence, reserved=0, reason="t"
        )
        payload, event_type = event.to_payload(), event.event_type
    return Envelope(
        event_id=uuid.uuid4(),
        event_type=event_type,
        aggregate_type="product",
        aggregate_id=sku,
        sequence=sequence,
        occurred_at=now_utc(),
        origin="catalog",
        payload=payload,
    )


@pytest.fixture
def processor(tables, consumer):
    return InboxProcessor(consumer, max_attempts=2, backoff_base=0, gap_report_seconds=0)


def applied() -> list[tuple[str, int]]:
    return [
        (r[1], r[2])
        for r in support.rows("SELECT event_id, sku, sequence FROM test_applied_log ORDER BY id")
    ]


def test_redelivered_events_are_applied_once(processor):
    events = [envelope("A", 1), envelope("A", 2)]
    processor.process(events)
    processor.process(events)  # the broker redelivers both
    processor.process([events[1], events[0]])
    assert applied() == [("A", 1), ("A", 2)]
    assert support.copy_state()["A"][2:] == (2, 2)


def test_out_of_order_events_wait_for_their_predecessor(processor):
    a1, a2, a3, b1 = envelope("A", 1), envelope("A", 2), envelope("A", 3), envelope("B", 1)
    processor.process([a3, b1])
    processor.process([a1])
    assert applied() == [("B", 1), ("A", 1)]
    assert InboxParked.objects.get().reason == ParkedReason.OUT_OF_ORDER
    processor.sweep()  # reports the gap (A waits for #2); applies nothing
    processor.process([a2])
    assert applied() == [("B", 1), ("A", 1), ("A", 2), ("A", 3)]
    assert not InboxParked.objects.exists()


def test_a_failing_event_is_parked_and_the_rest_of_the_batch_applied(processor):
    poison = envelope("A", 1, name=support.POISON)
    processor.process([poison, envelope("A", 2), envelope("B", 1)])
    assert applied() == [("B", 1)]
    assert InboxParked.objects.get(event_id=poison.event_id).reason == ParkedReason.FAILED

    processor.sweep()  # second failure: dead
    assert InboxParked.objects.get(event_id=poison.event_id).reason == ParkedReason.DEAD

    # once the handler is fixed, the replayed event and its parked successor go through in order
    InboxParked.objects.filter(event_id=poison.event_id).update(
        envelope={**poison.to_dict(), "payload": {**poison.payload, "name": "fixed"}}
    )
    call_command("inbox_dead_letters", "replay", "--all")
    processor.sweep()
    assert applied() == [("B", 1), ("A", 1), ("A", 2)]
    assert not InboxParked.objects.exists()


def test_the_previous_event_version_is_upcast_for_the_handler(processor):
    processor.process([envelope("A", 1), envelope("A", 2, on_hand=7)])
    assert support.copy_state()["A"][2] == 7


def test_middleware_wraps_the_handler_and_hears_every_outcome(tables, consumer):
    # given: a processor with one recording middleware instead of the default ones
    heard = []

    class Recorder(InboxMiddleware):
        @contextlib.contextmanager
        def around_handler(self, consumer_name, env):
            heard.append(("enter", env.aggregate_id, env.sequence))
            yield
            heard.append(("exit", env.aggregate_id, env.sequence))

        def after_apply(self, consumer_name, env, applied_at):
            heard.append(("applied", env.aggregate_id, env.sequence))

        def after_duplicate(self, consumer_name, env):
            heard.append(("duplicate", env.aggregate_id, env.sequence))

        def after_park(self, consumer_name, env, reason):
            heard.append((f"parked {reason}", env.aggregate_id, env.sequence))

    processor = InboxProcessor(consumer, middleware=[Recorder()])
    a1, a2 = envelope("A", 1), envelope("A", 2)

    # when
    processor.process([a2])
    processor.process([a1, a1])

    # then
    assert heard == [
        ("parked out_of_order", "A", 2),
        ("enter", "A", 1),
        ("exit", "A", 1),
        ("applied", "A", 1),
        ("enter", "A", 2),  # the parked successor, drained at once
        ("exit", "A", 2),
        ("applied", "A", 2),
        ("duplicate", "A", 1),
    ]
    assert applied() == [("A", 1), ("A", 2)]


def test_a_middleware_overriding_some_hooks_hears_those(tables, consumer):
    # The processor calls per event only the middleware that override a hook: one that
    # overrides only after_apply must still hear every application, and no other hook.
    heard = []

    class AfterApplyOnly(InboxMiddleware):
        def after_apply(self, consumer_name, env, applied_at):
            heard.append(("applied", env.aggregate_id, env.sequence))

    class AroundOnly(InboxMiddleware):
        @contextlib.contextmanager
        def around_handler(self, consumer_name, env):
            heard.append(("enter", env.aggregate_id, env.sequence))
            yield

    processor = InboxProcessor(consumer, middleware=[AroundOnly(), AfterApplyOnly()])
    processor.process([envelope("A", 1), envelope("B", 1)])
    assert heard == [("enter", "A", 1), ("applied", "A", 1), ("enter", "B", 1), ("applied", "B", 1)]


@pytest.mark.parametrize("level", [logging.INFO, logging.WARNING])
def test_per_event_lines_are_logged_at_info_only(processor, level, monkeypatch):
    # The processor builds its per-event lines only when `servicekit.inbox` keeps INFO.
    a1 = envelope("A", 1)
    with support.info_lines(
        monkeypatch, "servicekit.events.inbox.processor", "servicekit.inbox", level
    ) as lines:
        processor.process([a1, a1, envelope("B", 1)])
    events = [event for event, _ in lines]
    if level == logging.INFO:
        assert events == ["inbox.applied", "inbox.duplicate_skipped", "inbox.applied"]
        assert lines[0][1]["event_id"] == str(a1.event_id)
    else:
        assert events == []
    assert applied() == [("A", 1), ("B", 1)]


def test_default_middleware_is_tracing_echo_protection_metrics(processor):
    assert [type(m) for m in processor.middleware] == [Tracing, EchoProtection, Metrics]


def _statement_consumer(statements) -> EventConsumer:
    """A consumer whose created-handler runs `statements(cursor, event)` (raw SQL)."""
    consumer = EventConsumer(f"tests.statements.{uuid.uuid4().hex[:8]}", event_types=EVENT_TYPES)

    @consumer.on(ProductCreatedV1)
    def created(event: ProductCreatedV1, env: Envelope) -> None:
        with connection.cursor() as cursor:
            statements(cursor, event)
            cursor.execute(
                "INSERT INTO test_applied_log (event_id, sku, sequence) VALUES (%s, %s, %s)",
                [str(env.event_id), env.aggregate_id, env.sequence],
            )

    return consumer


def test_a_statement_failing_in_the_database_parks_only_its_event(tables):
    # given: a handler whose INSERT breaks a constraint for one product only (on PostgreSQL the
    # batch's statements are pipelined: the error comes back after later handlers ran)
    def insert(cursor, event):
        sku = "A" if event.name == support.POISON else event.sku  # A's row is there already
        cursor.execute("INSERT INTO test_product_copy (sku, name) VALUES (%s, %s)", [sku, "n"])

    processor = InboxProcessor(_statement_consumer(insert), max_attempts=5, backoff_base=0)
    poison = envelope("B", 1, name=support.POISON)

    # when
    processor.process([envelope("A", 1), poison, envelope("C", 1)])

    # then: the others are applied, the poison event is parked with the database's error
    assert applied() == [("A", 1), ("C", 1)]
    assert [r[0] for r in support.rows("SELECT sku FROM test_product_copy ORDER BY sku")] == [
        "A",
        "C",
    ]
    parked = InboxParked.objects.get()
    assert (parked.event_id, parked.reason) == (poison.event_id, ParkedReason.FAILED)
    assert "IntegrityError" in parked.last_error


def test_handlers_read_row_counts_of_their_own_statements(tables):
    # given: an update-else-insert handler deciding on the UPDATE's row count (Django's save()
    # does the same), and a batch pipelined on PostgreSQL
    pipeline_status = []

    def upsert(cursor, event):
        pipeline_status.append(
            connection.connection.pgconn.pipeline_status
            if connection.vendor == "postgresql"
            else None
        )
        cursor.execute("UPDATE test_product_copy SET name = %s WHERE sku = %s", ["again", "A"])
        if cursor.rowcount == 0:
            cursor.execute(
                "INSERT INTO test_product_copy (sku, name) VALUES (%s, %s)", ["A", "new"]
            )

    processor = InboxProcessor(_statement_consumer(upsert))

    # when: three events in one batch, each updating or inserting product A
    processor.process([envelope("X", 1), envelope("Y", 1), envelope("Z", 1)])

    # then: inserted once, then updated; nothing fell back to one event per transaction
    assert support.rows("SELECT sku, name FROM test_product_copy") == [("A", "again")]
    assert len(applied()) == 3
    if connection.vendor == "postgresql":
        assert pipeline_status == [pq.PipelineStatus.ON] * 3
