"""The service's notifications and the small user directory it emails from."""

from django.db import models
from django.utils import timezone

from extracted.notifications.notifications import emails


class NotificationKind(models.TextChoices):
    ORDER_PLACED = emails.ORDER_PLACED, "Order placed"
    ORDER_CONFIRMED = emails.ORDER_CONFIRMED, "Order confirmed"
    ORDER_CANCELLED = emails.ORDER_CANCELLED, "Order cancelled"


class Recipient(models.Model):
    """Who a user id is, as the users stream (or the backfill) last told us."""

    user_id = models.BigIntegerField(primary_key=True)
    username = models.CharField(max_length=150)
    email = models.EmailField(blank=True)
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id} {self.username}"


class Notification(models.Model):
    """One per user and order event; the unique key makes every path into it idempotent.

    `email_due` is set only on notifications this service made as the owner while it sends the
    order email: the others were (or will be) emailed by the monolith, or by the order-email
    function when `NOTIFICATIONS_ORDER_EMAIL=function`, and are never emailed from here.

    `pending`: the monolith may not have this one. A copy made while the monolith owns
    notifications waits for the monolith's own event (which clears it); one made while frozen
    waits for the takeover. The monolith reacts to the same order event at its own pace, so it
    may meet that event only after the freeze or the flip and make nothing: the takeover then
    publishes (and emails) every row still pending (`notifications_release_pending`).
    """

    user_id = models.BigIntegerField()
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField()
    order_id = models.BigIntegerField()
    email_due = models.BooleanField(default=False)
    emailed_at = models.DateTimeField(null=True, blank=True)
    pending = models.BooleanField(default=False)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "kind", "order_id"], name="notification_once_per_order_event"
            )
        ]
        indexes = [
            models.Index(fields=["user_id", "read_at"]),
            models.Index(fields=["user_id", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.order_id}"
