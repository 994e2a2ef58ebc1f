"""The generic event of a project strangled before it has contracts of its own (pure: no
Django, so a contracts registry and the serverless bundle can import it); written by
`servicekit.events.record.outbox_record`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from servicekit.events.event import Event

__all__ = ["RecordChangedV1"]


@dataclass(frozen=True)
class RecordChangedV1(Event):
    """A row of an adopted monolith's model changed (aggregate `record`, keyed `<model>:<pk>`).

    The generic event of a project strangled before it has contracts of its own: its fields are
    the row's columns as JSON; a consumer that needs a stable shape should move to a typed
    contract of its own (`pages.page_published.v1`) once it knows what it needs. Part of the
    plumbing (not of a project's contracts), so any project can publish and consume it."""

    event_type = "records.record_changed.v1"
    aggregate_type = "record"

    model: str  # the model's label, `app_label.ModelName`
    pk: str
    action: str  # what the service did: "created", "changed", "published", "deleted", ...
    fields: dict[str, Any]  # column name -> JSON value

    @property
    def aggregate_id(self) -> str:
        return f"{self.model}:{self.pk}"
