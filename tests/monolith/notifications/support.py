"""Make a notification the way the order consumer does, for tests about reading them; the
notifications service's event for one, the way its mirror arrives."""

from contracts.notifications import NotificationCreatedV1
from monolith.notifications import services


def notify_order_event(*, user_id: int, kind: str, order_id: int, **text: str) -> int | None:
    notification = services.notification_for_order_event(
        user_id=user_id, kind=kind, order_id=order_id, **text
    )
    if notification is None:
        return None
    services.notification_email(notification_id=notification.pk)
    return notification.pk


def service_created(
    *, user_id: int, order_id: int, body: str = "the service's text", **fields: str
) -> NotificationCreatedV1:
    """The notifications service's `NotificationCreatedV1` for an order placed (its text)."""
    return NotificationCreatedV1(
        **{
            "user_id": user_id,
            "kind": "order_placed",
            "order_id": order_id,
            "title": f"Order {order_id} placed",
            "body": body,
            "created_at": "2026-03-01T12:00:00+00:00",
            **fields,
        }
    )
