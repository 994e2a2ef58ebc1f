"""Make a notification the way the order consumer does, for tests about reading them."""

from monolith.notifications import services


def notify_order_event(*, user_id: int, kind: str, order_id: int, **text: str) -> int | None:
    notification = services.notification_for_order_event(
        user_id=user_id, kind=kind, order_id=order_id, **text
    )
    if notification is None:
        return None
    services.notification_email(notification_id=notification.pk)
    return notification.pk
