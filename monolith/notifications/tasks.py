"""Celery tasks: thin, idempotent wrappers that take ids, never model instances."""

from celery import shared_task

from monolith.notifications import services


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=300, max_retries=8)
def notification_send_email(*, notification_id: int) -> bool:
    """Email a notification once (a retry after a lost ack sends nothing twice); the consumer
    queues it after the inbox transaction that made the notification committed."""
    return services.notification_email(notification_id=notification_id)
