"""A row of an adopted monolith's model changed (aggregate: record, keyed `<model>:<pk>`).

The generic event of a project strangled with the toolkit before it has contracts of its own:
`servicekit.events.record.outbox_record(instance)` writes one from any model instance. Its
fields are the row's columns as JSON; a consumer that needs a stable shape should move to a
typed contract of its own (`pages.page_published.v1`) once it knows what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.base import Event


@dataclass(frozen=True)
class RecordChangedV1(Event):
    event_type = "records.record_changed.v1"
    aggregate_type = "record"

    model: str  # the model's label, `app_label.ModelName`
    pk: str
    action: str  # what the service did: "created", "changed", "published", "deleted", ...
    fields: dict[str, Any]  # column name -> JSON value

    @property
    def aggregate_id(self) -> str:
        return f"{self.model}:{self.pk}"
