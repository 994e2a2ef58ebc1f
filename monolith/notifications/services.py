"""Creating, emailing and reading notifications."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from monolith.notifications.models import Notification, NotificationKind

_TEXT = {
    NotificationKind.ORDER_PLACED: (
        "Order {id} placed",
        "We received your order {id} ({total} {currency}).",
    ),
    NotificationKind.ORDER_CONFIRMED: ("Order {id} confirmed", "Your order {id} is confirmed."),
    NotificationKind.ORDER_CANCELLED: (
        "Order {id} cancelled",
        "Your order {id} was cancelled: {reason}.",
    ),
}


@transaction.atomic
def notification_for_order(
    *, user_id: int, kind: str, order_id: int, total: str = "", currency: str = "", reason: str = ""
) -> tuple[Notification, bool]:
    """Create the notification once per (user, kind, order); a repeat returns the first."""
    title, body = (
        t.format(id=order_id, total=total, currency=currency, reason=reason) for t in _TEXT[kind]
    )
    return Notification.objects.get_or_create(
        user_id=user_id, kind=kind, order_id=order_id, defaults={"title": title, "body": body}
    )


def notification_email(*, notification_id: int) -> bool:
    """Email a notification once; returns whether a mail left. Call outside any transaction."""
    notification = Notification.objects.select_related("user").get(pk=notification_id)
    if notification.emailed_at is not None or not notification.user.email:
        return False
    send_mail(
        subject=notification.title,
        message=notification.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[notification.user.email],
    )
    Notification.objects.filter(pk=notification.pk, emailed_at__isnull=True).update(
        emailed_at=timezone.now()
    )
    return True


def notification_mark_read(*, notification: Notification) -> Notification:
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_mark_all_read(*, user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def user_exists(user_id: int) -> bool:
    return get_user_model().objects.filter(pk=user_id).exists()
