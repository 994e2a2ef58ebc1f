"""Reads on notifications: a caller sees only their own (the token's `sub`)."""

from django.db.models import QuerySet

from extracted.notifications.notifications.models import Notification


def notification_list(*, user_id: int, unread: bool | None = None) -> QuerySet[Notification]:
    qs = Notification.objects.filter(user_id=user_id)
    if unread is True:
        qs = qs.filter(read_at__isnull=True)
    elif unread is False:
        qs = qs.filter(read_at__isnull=False)
    return qs.order_by("-created_at", "-id")


def notification_get(*, user_id: int, notification_id: int) -> Notification | None:
    return Notification.objects.filter(user_id=user_id, pk=notification_id).first()
