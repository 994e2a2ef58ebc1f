"""`HANDOVER_PASSWORD=... python extracted/notifications/manage.py notifications_takeover --source
$MONOLITH [--route NAME]`: the notifications service takes notifications over from the monolith
(migrations_plan/ chapter 06): freeze, drain, move the routes, flip; then what the monolith
does not have (made while frozen, or met by it only after) is published and emailed here."""

from django.core.management.base import BaseCommand

from contracts.notifications import notification_key
from extracted.notifications.notifications.services import notifications_release_pending
from servicekit.migration.handover import Stream, TakeoverCommand

STREAMS = [Stream("notifications", "notification", "aggregate_id")]


def with_aggregate_ids(pages):
    """Export rows gain the aggregate id both sides key their streams by (`user:kind:order`)."""
    for page in pages:
        for row in page["notifications"]:
            row["aggregate_id"] = notification_key(
                user_id=row["user_id"], kind=row["kind"], order_id=row["order_id"]
            )
        yield page


class Command(TakeoverCommand, BaseCommand):
    entity = "notification"
    consumer = "notifications"
    export_path = "/api/v1/notifications/export/"
    streams = STREAMS

    def export(self, pages):
        return with_aggregate_ids(pages)

    def after_flip(self) -> None:
        released = notifications_release_pending()
        self.stdout.write(
            f"notification: {released} pending (made while frozen, or met by the monolith only "
            "after the freeze) published and emailed"
        )
