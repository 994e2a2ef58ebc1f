"""The monolith's side of notification reconciliation once the notifications service owns them
(servicekit/migration/reconcile.py): the service's export is the peer, rows are keyed by the
aggregate id both sides share (`user:kind:order`), and our copy is repaired through the mirror
consumer's apply functions."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from contracts.notifications import (
    NotificationCreatedV1,
    NotificationReadV1,
    notification_key,
    notification_key_fields,
)
from monolith.notifications import services
from monolith.notifications.models import Notification
from servicekit.migration.reconcile import ReconcileAdapter

FIELDS = ("user_id", "kind", "order_id", "title", "body")


def row_apply(row: dict[str, Any], *, pending: bool = False) -> None:
    """Take one exported notification of the service (its text, time and read state);
    `pending` for one it never published (see `services.notification_apply_created`)."""
    services.notification_apply_created(
        NotificationCreatedV1(**{k: row[k] for k in FIELDS}, created_at=row["created_at"]),
        pending=pending,
    )
    if row.get("read_at"):
        services.notification_apply_read(
            NotificationReadV1(**{k: row[k] for k in FIELDS[:3]}, read_at=row["read_at"])
        )


class NotificationMirror(ReconcileAdapter):
    name = entity = "notification"
    peer = "notifications"
    export_path = "/api/v1/notifications/export/"
    rows = "notifications"
    fields = (*FIELDS, "read")
    consumer, aggregate_type = "monolith.notifications", "notification"

    def key(self, row):
        return notification_key(user_id=row["user_id"], kind=row["kind"], order_id=row["order_id"])

    def normalise(self, row):
        return {**{k: row[k] for k in FIELDS}, "read": row.get("read_at") is not None}

    def local_rows(self, keys):
        match = Q()
        for key in keys:
            match |= Q(**notification_key_fields(key))
        rows = Notification.objects.filter(match).values(*FIELDS, "read_at") if keys else []
        return {self.key(row): row for row in rows}

    def local_keys(self):
        # a pending copy is not a mirrored row yet: the service's event for it is on its way
        rows = Notification.objects.filter(order_id__isnull=False, pending=False)
        for user_id, kind, order_id in rows.values_list("user_id", "kind", "order_id").iterator():
            yield notification_key(user_id=user_id, kind=kind, order_id=order_id)

    def apply(self, row):
        row_apply(row)

    def remove(self, key):
        Notification.objects.filter(**notification_key_fields(key)).delete()
        return True
