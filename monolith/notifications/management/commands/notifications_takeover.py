"""`HANDOVER_PASSWORD=... python manage.py notifications_takeover --source $NOTIFICATIONS
[--route NAME]`: the monolith takes notifications back from the notifications service (the
rollback of migrations_plan/ chapter 06): freeze, drain, move the routes back, flip; then what
the service never sent (made while frozen, or met by it only after the freeze) is published and
emailed here."""

from django.core.management.base import BaseCommand

from contracts.notifications import notification_key
from monolith.notifications.reconcile import row_apply
from monolith.notifications.services import notifications_release_pending
from servicekit.migration.handover import Stream, TakeoverCommand


class Command(TakeoverCommand, BaseCommand):
    entity = "notification"
    consumer = "monolith.notifications"
    export_path = "/api/v1/notifications/export/"
    streams = [Stream("notifications", "notification", "aggregate_id")]

    def export(self, pages):
        """Rows gain their aggregate id; a row never published (made while frozen: sequence 0)
        no event will bring, so it is taken from the export itself, through the mirror's apply,
        pending: the service never emailed it either."""
        for page in pages:
            for row in page["notifications"]:
                row["aggregate_id"] = notification_key(
                    user_id=row["user_id"], kind=row["kind"], order_id=row["order_id"]
                )
                if not row["sequence"]:
                    row_apply(row, pending=True)
            yield page

    def after_flip(self) -> None:
        released = notifications_release_pending()
        self.stdout.write(
            f"notification: {released} pending (made while frozen, or met by the service only "
            "after the freeze) published and emailed"
        )
