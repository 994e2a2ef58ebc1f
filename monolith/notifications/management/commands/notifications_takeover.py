"""`HANDOVER_PASSWORD=... python manage.py notifications_takeover --source $NOTIFICATIONS
[--route NAME]`: the monolith takes notifications back from the notifications service (the
rollback of migrations_plan/ chapter 06): freeze, drain, move the routes back, flip."""

from django.core.management.base import BaseCommand

from contracts.notifications import notification_key
from monolith.notifications.reconcile import row_apply
from servicekit.migration.handover import Stream, TakeoverCommand


class Command(TakeoverCommand, BaseCommand):
    entity = "notification"
    consumer = "monolith.notifications"
    export_path = "/api/v1/notifications/export/"
    streams = [Stream("notifications", "notification", "aggregate_id")]

    def export(self, pages):
        """Rows gain their aggregate id; a row never published (made while frozen: sequence 0)
        no event will bring, so it is taken from the export itself, through the mirror's apply."""
        for page in pages:
            for row in page["notifications"]:
                row["aggregate_id"] = notification_key(
                    user_id=row["user_id"], kind=row["kind"], order_id=row["order_id"]
                )
                if not row["sequence"]:
                    row_apply(row)
            yield page
