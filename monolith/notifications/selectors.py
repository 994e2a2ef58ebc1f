"""Reads on notifications."""

from django.db.models import CharField, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Concat

from monolith.notifications.models import Notification
from servicekit.events.outbox import AggregateSequence


def notification_list(*, user, unread: bool | None = None) -> QuerySet[Notification]:
    qs = Notification.objects.filter(user=user)
    if unread is True:
        qs = qs.filter(read_at__isnull=True)
    elif unread is False:
        qs = qs.filter(read_at__isnull=False)
    return qs.order_by("-created_at", "-id")


def notification_get(*, user, notification_id: int) -> Notification | None:
    return Notification.objects.filter(user=user, pk=notification_id).first()


def unread_count(*, user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notification_export(*, after: int = 0, limit: int = 200) -> QuerySet[Notification]:
    """Every user's notifications by id, each with its user and the event sequence it reflects
    (aggregate id `user:kind:order`, as in contracts.notifications), in one statement per page."""
    key = Concat(
        Cast("user_id", CharField()),
        Value(":"),
        "kind",
        Value(":"),
        Cast("order_id", CharField()),
        output_field=CharField(),
    )
    last = AggregateSequence.objects.filter(
        aggregate_type="notification", aggregate_id=OuterRef("aggregate_key")
    ).values("last_sequence")[:1]
    return (
        Notification.objects.select_related("user")
        # every notification is about an order; a row without one has no key on the other side
        .filter(pk__gt=after, order_id__isnull=False)
        .annotate(aggregate_key=key)
        .annotate(sequence=Coalesce(Subquery(last, output_field=IntegerField()), Value(0)))
        .order_by("pk")[:limit]
    )
