"""In-app notifications, one per user and event (the unique key makes delivery idempotent)."""

from django.conf import settings
from django.db import models


class NotificationKind(models.TextChoices):
    ORDER_PLACED = "order_placed", "Order placed"
    ORDER_CONFIRMED = "order_confirmed", "Order confirmed"
    ORDER_CANCELLED = "order_cancelled", "Order cancelled"


class Notification(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField()
    order_id = models.BigIntegerField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # A copy made from an order event while the notifications service owned notifications: kept
    # silently until the service's own event for it arrives (then it is that event's row), or
    # published and emailed here if this side takes notifications back first
    # (services.notifications_release_pending).
    pending = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind", "order_id"], name="notification_once_per_order_event"
            )
        ]
        indexes = [models.Index(fields=["user", "read_at"])]
