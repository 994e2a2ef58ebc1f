"""The notifications service's side of notification reconciliation
(servicekit/migration/reconcile.py): the monolith's staff export is the peer; our copy is
repaired through the mirror's merge (the consumer's and the backfill's path). Rows are keyed by
the aggregate id both sides share, `user:kind:order`: their row ids differ."""

from __future__ import annotations

from django.db.models import Q

from contracts.notifications import notification_key, notification_key_fields
from extracted.notifications.notifications.backfill import snapshot_apply
from extracted.notifications.notifications.models import Notification
from servicekit.migration.reconcile import ReconcileAdapter

FIELDS = ("user_id", "kind", "order_id", "title", "body", "read")


def _row(n: Notification) -> dict:
    return {
        "user_id": n.user_id,
        "kind": n.kind,
        "order_id": n.order_id,
        "title": n.title,
        "body": n.body,
        "read_at": n.read_at,
    }


class NotificationMirror(ReconcileAdapter):
    name = entity = "notification"
    peer = "monolith"
    export_path = "/api/v1/notifications/export/"
    rows = "notifications"
    fields = FIELDS
    consumer, aggregate_type = "notifications", "notification"

    def key(self, row):
        return notification_key(user_id=row["user_id"], kind=row["kind"], order_id=row["order_id"])

    def normalise(self, row):
        return {
            **{name: row[name] for name in FIELDS[:-1]},
            "read": row.get("read_at") is not None,
        }

    def local_rows(self, keys):
        if not keys:
            return {}
        match = Q()
        for key in keys:
            match |= Q(**notification_key_fields(key))
        return {self.key(r): r for r in map(_row, Notification.objects.filter(match))}

    def local_keys(self):
        for user_id, kind, order_id in Notification.objects.values_list(
            "user_id", "kind", "order_id"
        ).iterator():
            yield notification_key(user_id=user_id, kind=kind, order_id=order_id)

    def apply(self, row):
        # the merge only moves read state forward: a copy read here but not at the owner stays
        # read (reported again), the one difference a mirror may not undo
        snapshot_apply({**row, "sequence": 0})

    def remove(self, key):
        Notification.objects.filter(**notification_key_fields(key)).delete()
        return True
