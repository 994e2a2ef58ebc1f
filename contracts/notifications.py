"""Events about notifications (aggregate: notification, keyed by user, kind and order).

Only the side that owns notifications (servicekit.migration.ownership, entity "notification") emits them;
the other side mirrors them, so both copies hold the same notifications and the same read state
whichever way ownership is flipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from servicekit.events.event import Event


def notification_key(*, user_id: int, kind: str, order_id: int) -> str:
    """The aggregate id both sides agree on (their row ids differ): `user:kind:order`."""
    return f"{user_id}:{kind}:{order_id}"


def notification_key_fields(key: str) -> dict[str, int | str]:
    """`notification_key` read back: `user_id`, `kind`, `order_id` (for a query on either side)."""
    user_id, kind, order_id = key.split(":")
    return {"user_id": int(user_id), "kind": kind, "order_id": int(order_id)}


@dataclass(frozen=True)
class _NotificationEvent(Event):
    aggregate_type = "notification"

    user_id: int
    kind: str
    order_id: int

    @property
    def aggregate_id(self) -> str:
        return notification_key(user_id=self.user_id, kind=self.kind, order_id=self.order_id)


@dataclass(frozen=True)
class NotificationCreatedV1(_NotificationEvent):
    """The owner made a notification (and emails it); `created_at` is ISO 8601 with a zone."""

    event_type = "notifications.notification_created.v1"

    title: str
    body: str
    created_at: str


@dataclass(frozen=True)
class NotificationReadV1(_NotificationEvent):
    """The user read it. Read state only moves forward, so applying it twice is harmless."""

    event_type = "notifications.notification_read.v1"

    read_at: str
