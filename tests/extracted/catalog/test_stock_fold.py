"""The stock aggregate's fold: pure functions over events, no database."""

from __future__ import annotations

import json

import pytest

from extracted.catalog.stock.aggregate import (
    StockEventData,
    StockState,
    adjusted,
    apply,
    committed,
    fold,
    received,
    released,
    reserved,
    returned,
)


def test_an_empty_stream_is_no_stock():
    assert fold([]) == StockState(on_hand=0, reserved=0)


def test_each_event_moves_the_units_it_names():
    state = StockState(on_hand=10, reserved=4)
    assert apply(state, received(3)) == StockState(13, 4)
    assert apply(state, reserved(2, order_id=1)) == StockState(10, 6)
    assert apply(state, released(4, order_id=1)) == StockState(10, 0)
    assert apply(state, committed(4, order_id=1)) == StockState(6, 0)
    assert apply(state, returned(2, order_id=1)) == StockState(12, 4)
    assert apply(state, adjusted(on_hand=7, reserved=1)) == StockState(7, 1)


def test_a_sale_folds_to_the_shelf_minus_what_was_sold():
    events = [
        adjusted(on_hand=5, reserved=0, reason="opening"),
        received(10),
        reserved(3, order_id=1),
        reserved(2, order_id=2),
        released(2, order_id=2),
        committed(3, order_id=1),
        returned(1, order_id=1),
    ]
    state = fold(events)
    assert state == StockState(on_hand=13, reserved=0)
    assert state.available == 13


def test_folding_from_a_snapshot_equals_folding_from_the_start():
    events = [received(4), reserved(1, order_id=9), received(2), committed(1, order_id=9)]
    assert fold(events[2:], fold(events[:2])) == fold(events)


def test_adjusted_sets_levels_whatever_came_before():
    assert fold([received(100), reserved(50, order_id=1), adjusted(on_hand=3, reserved=0)]) == (
        StockState(3, 0)
    )


def test_payloads_round_trip_through_json():
    for event in (received(1), reserved(2, order_id=3), adjusted(on_hand=4, reserved=1)):
        again = StockEventData(event.type, json.loads(json.dumps(dict(event.payload))))
        assert apply(StockState(9, 1), again) == apply(StockState(9, 1), event)


def test_an_unknown_event_type_fails_loudly():
    with pytest.raises(ValueError, match="unknown stock event type 'stolen'"):
        apply(StockState(), StockEventData("stolen", {"quantity": 1}))
