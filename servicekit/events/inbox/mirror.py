"""Handlers for replicated data: apply another service's change, ignore our own, keep sequences.

While two services hold copies of an entity, each consumes the entity's whole event stream:
events from the owner are applied; its own events come back too and are skipped (the cursor
still advances). Applying an event also raises this service's own per-aggregate sequence to
the event's, so that after an ownership flip the new owner's events continue the stream where
the old owner stopped: no consumer sees a gap or mistakes a new event for an old one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.db.models import F
from django.db.models.functions import Greatest

from servicekit.events.envelope import Envelope
from servicekit.events.outbox.models import AggregateSequence
from servicekit.events.settings import events_settings


def aggregate_sequence_observe(*, aggregate_type: str, aggregate_id: str, sequence: int) -> None:
    """Raise this service's sequence for the aggregate to at least `sequence`. Call in the
    inbox's transaction."""
    sequence_row, created = AggregateSequence.objects.get_or_create(
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        defaults={"last_sequence": sequence},
    )
    if not created and sequence_row.last_sequence < sequence:
        AggregateSequence.objects.filter(pk=sequence_row.pk).update(
            last_sequence=Greatest(F("last_sequence"), sequence)
        )


def mirror(
    apply: Callable[..., Any], *, with_envelope: bool = False
) -> Callable[[Any, Envelope], None]:
    """Wrap `apply(event)` (or `apply(event, envelope)`) as an inbox handler for a replicated
    entity."""

    @functools.wraps(apply)
    def handler(event: Any, envelope: Envelope) -> None:
        if envelope.origin == events_settings().SERVICE:
            return  # our own change coming back: already applied here
        aggregate_sequence_observe(
            aggregate_type=envelope.aggregate_type,
            aggregate_id=envelope.aggregate_id,
            sequence=envelope.sequence,
        )
        if with_envelope:
            apply(event, envelope)
        else:
            apply(event)

    return handler
