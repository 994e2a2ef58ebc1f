"""`outbox_record`: one call in an existing model's service, an event a consumer applies once."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import transaction

from servicekit.events.broker.stub import StubPublisher
from servicekit.events.envelope import Envelope
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import EventConsumer, get_consumer
from servicekit.events.outbox.services import OutboxUsageError
from servicekit.events.record import RecordChangedV1, outbox_record
from servicekit.events.relay.relay import Relay, RelayConfig

pytestmark = pytest.mark.django_db(transaction=True)
CONSUMER = "tests.records"
applied: list[tuple[str, str, dict]] = []


def _consumer() -> EventConsumer:
    try:
        return get_consumer(CONSUMER)
    except LookupError:
        consumer = EventConsumer(CONSUMER)

    @consumer.on(RecordChangedV1)
    def record_changed(event: RecordChangedV1, envelope: Envelope) -> None:
        applied.append((event.aggregate_id, event.action, event.fields))

    return consumer


# an existing service function of a project, with the one line added
@transaction.atomic
def group_rename(*, group: Group, name: str) -> Group:
    group.name = name
    group.save(update_fields=["name"])
    outbox_record(group, action="renamed", fields=["name"])
    return group


def test_a_record_event_reaches_a_consumer_exactly_once():
    applied.clear()
    group = Group.objects.create(name="editors")
    group_rename(group=group, name="Editors")
    group_rename(group=group, name="Chief editors")
    with pytest.raises(RuntimeError), transaction.atomic():  # rolled back: no event
        group_rename(group=group, name="never")
        raise RuntimeError("the business change fails")
    stub = StubPublisher()
    relay = Relay(publisher=stub, config=RelayConfig(batch_size=10))
    while relay.run_once():
        pass
    assert [(e.aggregate_type, e.sequence) for e in stub.published] == [
        ("record", 1),
        ("record", 2),
    ]
    processor = InboxProcessor(_consumer(), max_attempts=1, backoff_base=0, gap_report_seconds=0)
    processor.process(stub.published)
    processor.process(stub.published)  # the broker redelivers both
    processor.process(list(reversed(stub.published)))
    key = f"auth.Group:{group.pk}"
    assert applied == [
        (key, "renamed", {"name": "Editors"}),
        (key, "renamed", {"name": "Chief editors"}),
    ]


def test_outside_a_transaction_it_refuses_like_the_outbox():
    group = Group.objects.create(name="x")
    with pytest.raises(OutboxUsageError):
        outbox_record(group)
