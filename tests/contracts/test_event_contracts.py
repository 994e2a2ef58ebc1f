"""Every event type round-trips through JSON in its envelope; older versions upcast."""

from __future__ import annotations

import dataclasses
import json
import typing
import uuid

import pytest

from contracts import registry
from contracts.catalog import StockChangedV1, StockChangedV2
from servicekit.events.envelope import Envelope, now_utc, split_event_type
from servicekit.events.event import Event

SAMPLES = {str: "x", int: 3, bool: True}


def sample(cls: type) -> typing.Any:
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if typing.get_origin(hint) is tuple:
            values[field.name] = (sample(typing.get_args(hint)[0]),)
        elif typing.get_origin(hint) is dict:
            values[field.name] = {"x": 3, "y": None}
        else:
            values[field.name] = SAMPLES[hint]
    return cls(**values)


@pytest.mark.parametrize("cls", registry.EVENT_CLASSES, ids=lambda c: c.event_type)
def test_event_round_trips_through_json(cls: type[Event]):
    event = sample(cls)
    envelope = Envelope(
        event_id=uuid.uuid4(),
        event_type=cls.event_type,
        aggregate_type=cls.aggregate_type,
        aggregate_id=event.aggregate_id,
        sequence=1,
        occurred_at=now_utc(),
        origin="monolith",
        payload=event.to_payload(),
        correlation_id="req-1",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    wire = json.loads(json.dumps(envelope.to_dict()))
    back = Envelope.from_dict(wire)
    assert back == envelope
    decoded = registry.decode(back)
    if registry.latest_type(cls.event_type) == cls.event_type:
        assert decoded == event


def test_every_event_type_is_versioned_and_registered_once():
    types = [cls.event_type for cls in registry.EVENT_CLASSES]
    assert len(types) == len(set(types))
    for event_type in types:
        name, version = split_event_type(event_type)
        assert name.count(".") == 1 and version >= 1


def test_previous_version_upcasts_to_current():
    old = StockChangedV1(sku="S", on_hand=5, reserved=2, reason="sale")
    event_type, payload = registry.upcast(old.event_type, old.to_payload())
    assert event_type == StockChangedV2.event_type
    assert StockChangedV2.from_payload(payload) == StockChangedV2(
        sku="S", on_hand=5, reserved=2, available=3, reason="sale"
    )


def test_envelope_rejects_unversioned_types_and_naive_times():
    with pytest.raises(ValueError):
        split_event_type("catalog.product_updated")
    data = Envelope(
        event_id=uuid.uuid4(),
        event_type="x.y.v1",
        aggregate_type="a",
        aggregate_id="1",
        sequence=1,
        occurred_at=now_utc(),
        origin="m",
        payload={},
    ).to_dict()
    with pytest.raises(ValueError):
        Envelope.from_dict({**data, "occurred_at": "2024-01-01T00:00:00"})
