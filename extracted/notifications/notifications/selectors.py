"""Reads on notifications: a caller sees only their own (the token's `sub`)."""

from django.db.models import CharField, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Concat

from extracted.notifications.notifications.models import Notification, Recipient
from servicekit.events.outbox import AggregateSequence


def notification_list(*, user_id: int, unread: bool | None = None) -> QuerySet[Notification]:
    qs = Notification.objects.filter(user_id=user_id)
    if unread is True:
        qs = qs.filter(read_at__isnull=True)
    elif unread is False:
        qs = qs.filter(read_at__isnull=False)
    return qs.order_by("-created_at", "-id")


def notification_get(*, user_id: int, notification_id: int) -> Notification | None:
    return Notification.objects.filter(user_id=user_id, pk=notification_id).first()


def notification_export(*, after: int = 0, limit: int = 200) -> QuerySet[Notification]:
    """Every user's notifications by id, shaped like the monolith's export (its recipient's name
    and address, and the event sequence it reflects, aggregate id `user:kind:order`), one
    statement per page: the monolith's hand-back drains it, and its reconciliation reads it."""
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
    recipient = Recipient.objects.filter(user_id=OuterRef("user_id"))
    return (
        Notification.objects.filter(pk__gt=after)
        .annotate(aggregate_key=key)
        .annotate(sequence=Coalesce(Subquery(last, output_field=IntegerField()), Value(0)))
        .annotate(
            username=Coalesce(Subquery(recipient.values("username")[:1]), Value("")),
            email=Coalesce(Subquery(recipient.values("email")[:1]), Value("")),
        )
        .order_by("pk")[:limit]
    )
