"""Celery tasks: thin, idempotent wrappers that take ids, never model instances."""

from celery import shared_task

from monolith.notifications import services


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=300, max_retries=8)
def notify_order_event(
    *, user_id: int, kind: str, order_id: int, total: str = "", currency: str = "", reason: str = ""
) -> int | None:
    """Create the in-app notification and email it; safe to run twice. Does nothing once the
    notifications service owns notifications (it makes them from the order events)."""
    notification = services.notification_for_order_event(
        user_id=user_id, kind=kind, order_id=order_id, total=total, currency=currency, reason=reason
    )
    if notification is None:
        return None
    services.notification_email(notification_id=notification.pk)
    return notification.pk
