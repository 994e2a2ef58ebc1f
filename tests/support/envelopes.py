"""Envelopes built by hand for the inbox, with a sequence per (origin, aggregate) stream.

Plain code (no Django), shared by every suite that feeds an inbox by hand.
"""

from __future__ import annotations

import uuid
from itertools import count

from servicekit.events.envelope import Envelope, now_utc

_sequences: dict[tuple[str, str, str], count] = {}


def sequences_reset() -> None:
    _sequences.clear()


def envelope(
    event, *, origin: str = "monolith", sequence: int | None = None, occurred_at=None
) -> Envelope:
    key = (origin, event.aggregate_type, event.aggregate_id)
    if sequence is None:
        sequence = next(_sequences.setdefault(key, count(1)))
    return Envelope(
        event_id=uuid.uuid4(),
        event_type=event.event_type,
        aggregate_type=event.aggregate_type,
        aggregate_id=event.aggregate_id,
        sequence=sequence,
        occurred_at=occurred_at or now_utc(),
        origin=origin,
        payload=event.to_payload(),
    )
