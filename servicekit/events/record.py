"""The outbox added to an existing model's service function with one call: `outbox_record`.

    @transaction.atomic
    def page_rename(*, page, title):          # a service the adopted monolith already has
        page.title = title
        page.save(update_fields=["title"])
        outbox_record(page, action="renamed", fields=["title"])   # the one added line

It writes a `records.record_changed.v1` event (`RecordChangedV1` below: the model's label, its
key, the action and the row's columns as JSON) through `outbox_enqueue`, so it joins the
caller's transaction with every guarantee of the outbox: committed with the change or not at
all, one per-record sequence, published by the relay after commit, applied once by an inbox.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from servicekit.events.records import RecordChangedV1

if TYPE_CHECKING:  # the outbox's models load only where its app is installed
    from servicekit.events.outbox.models import OutboxMessage

__all__ = ["RecordChangedV1", "instance_row", "outbox_record", "record_event"]


def instance_row(instance: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """The instance's concrete fields by column name (a foreign key as its id), JSON-ready
    (dates and decimals as DjangoJSONEncoder writes them); `fields` picks some by name."""
    chosen = instance._meta.concrete_fields
    if fields is not None:
        chosen = [instance._meta.get_field(name) for name in fields]
    row = {field.attname: field.value_from_object(instance) for field in chosen}
    return json.loads(json.dumps(row, cls=DjangoJSONEncoder))


def record_event(
    instance: models.Model, *, action: str = "changed", fields: list[str] | None = None
) -> RecordChangedV1:
    """The event `outbox_record` writes, for a caller that wants to look before it enqueues."""
    if instance.pk is None:
        raise ValueError(f"{instance!r} has no primary key yet: save it first")
    return RecordChangedV1(
        model=instance._meta.label,
        pk=str(instance.pk),
        action=action,
        fields=instance_row(instance, fields),
    )


def outbox_record(
    instance: models.Model,
    *,
    action: str = "changed",
    fields: list[str] | None = None,
    using: str = "default",
) -> OutboxMessage | None:
    """Record in the outbox that `instance` changed. Call inside `transaction.atomic`, after
    saving it (`OutboxUsageError` otherwise, as `outbox_enqueue`). Needs the
    `servicekit.events.outbox` app installed; `instance_row` and `record_event` do not."""
    from servicekit.events.outbox.services import outbox_enqueue

    return outbox_enqueue(record_event(instance, action=action, fields=fields), using=using)
