"""Writes on the service's notifications.

Three kinds: making a notification from an order event (`notification_for_order`: as the owner
it is published and emailed, otherwise the copy is built silently); the owner's read writes,
refused elsewhere with 503 `owner_moving` and `Retry-After`; and the `*_apply_*` functions, which
mirror the other side's notification events and the users stream into this database (the inbox
runs them).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter

from contracts.notifications import NotificationCreatedV1, NotificationReadV1
from contracts.users import UserCreatedV1, UserUpdatedV1
from extracted.notifications.notifications.emails import (
    BY_FUNCTION,
    BY_SERVICE,
    OrderEmailSwitch,
    OrderNotice,
)
from extracted.notifications.notifications.models import Notification, Recipient
from servicekit.events.outbox import outbox_enqueue
from servicekit.migration.ownership import FROZEN, owner_of, owns, require_ownership

ENTITY = "notification"

logger = logging.getLogger("notifications.email")

ORDER_EMAIL_LEFT_TO_FUNCTION = Counter(
    "notifications_order_email_left_to_function_total",
    "Owned notifications made without an email because NOTIFICATIONS_ORDER_EMAIL=function.",
    ["kind"],
)


def order_email_switch() -> OrderEmailSwitch:
    """`NOTIFICATIONS_ORDER_EMAIL` (+ `_SINCE`), read at start: who sends which order email."""
    return settings.NOTIFICATIONS_ORDER_EMAIL


def _key(notification: Notification) -> dict:
    return {
        "user_id": notification.user_id,
        "kind": notification.kind,
        "order_id": notification.order_id,
    }


def _created_event(notification: Notification) -> NotificationCreatedV1:
    return NotificationCreatedV1(
        **_key(notification),
        title=notification.title,
        body=notification.body,
        created_at=notification.created_at.isoformat(),
    )


def _read_event(notification: Notification) -> NotificationReadV1:
    return NotificationReadV1(**_key(notification), read_at=notification.read_at.isoformat())


# --- making notifications from order events -------------------------------------------------


@transaction.atomic
def notification_for_order(
    *, notice: OrderNotice, occurred_at: datetime
) -> tuple[Notification, bool]:
    """Make the notification once per (user, kind, order); a repeat returns the first.

    As the owner, the new notification is published and emailed after commit. Otherwise it is
    the service's copy, made silently and `pending` until the monolith's own event for it
    arrives; while ownership is frozen for a handover it is also due for an email (held), sent
    once this service owns notifications. A copy that commits just after the takeover released
    the pending rows is settled after commit (`notification_settle`). When the switch gives the
    event (by its `occurred_at`) to the order-email function, the notification is made and
    published as ever but never due for an email here.
    """
    owner = owns(ENTITY)
    held = not owner and owner_of(ENTITY) == FROZEN
    by_service = order_email_switch().sender_of(occurred_at) == BY_SERVICE
    notification, created = Notification.objects.get_or_create(
        user_id=notice.user_id,
        kind=notice.kind,
        order_id=notice.order_id,
        defaults={
            "title": notice.title,
            "body": notice.body,
            "email_due": (owner or held) and by_service,
            "pending": not owner,
        },
    )
    if created and owner:
        outbox_enqueue(_created_event(notification))
        if by_service:
            transaction.on_commit(
                lambda: notification_email(notification_id=notification.pk), robust=True
            )
        else:
            _left_to_function(notification)
    elif created:
        transaction.on_commit(
            lambda: notification_settle(notification_id=notification.pk), robust=True
        )
    return notification, created


def _left_to_function(notification: Notification) -> None:
    ORDER_EMAIL_LEFT_TO_FUNCTION.labels(kind=notification.kind).inc()
    logger.info(
        "order email left to the function (NOTIFICATIONS_ORDER_EMAIL)",
        extra={
            "notification_id": notification.pk,
            "delivered_by": "function",
            **_key(notification),
        },
    )


def notification_settle(*, notification_id: int) -> bool:
    """A pending copy made while this service did not own notifications, checked after its
    commit: if the service owns them by now (the flip came between the ownership check and the
    commit, after the takeover released the pending rows), publish and email it as the owner
    would have. Returns whether it was settled. Call outside any transaction."""
    if not owns(ENTITY) or not _release(Notification.objects.filter(pk=notification_id)):
        return False
    notification_email(notification_id=notification_id)
    return True


def _release(rows) -> int:
    """Publish the pending rows among `rows` (the monolith's merge is idempotent, so one published
    twice is harmless) and make them due for the email the monolith never sent (the caller
    sends it). Returns how many."""
    switch = order_email_switch()
    with transaction.atomic():
        pending = list(rows.select_for_update().filter(pending=True))
        for notification in pending:
            outbox_enqueue(_created_event(notification))
            if not notification.email_due and notification.emailed_at is None:
                # a copy's email was the monolith's, which never made it: the switch decides
                notification.email_due = switch.sender_of(notification.created_at) == BY_SERVICE
                if not notification.email_due:
                    _left_to_function(notification)
            notification.pending = False
            notification.save(update_fields=["pending", "email_due"])
    return len(pending)


def notification_email(*, notification_id: int) -> bool:
    """Email a due notification once; returns whether a mail left. Call outside any transaction.

    Claimed before sending (at most once even if two processes race); a failed send releases
    the claim. A user not in the directory yet is emailed when the users stream names them.
    `email_due` was decided by the switch for the event's time, except that a switch to the
    function without a `since` gives it every event: then a notification due from before (its
    customer's address still unknown) is the function's to email, from its own delivery.
    """
    switch = order_email_switch()
    if switch.since is None and switch.sender == BY_FUNCTION:
        return False  # a plain switch gives the function every event, older ones too
    notification = Notification.objects.filter(
        pk=notification_id, email_due=True, emailed_at__isnull=True
    ).first()
    if notification is None:
        return False
    recipient = Recipient.objects.filter(user_id=notification.user_id).first()
    if recipient is None or not recipient.email:
        return False
    claimed = Notification.objects.filter(pk=notification.pk, emailed_at__isnull=True).update(
        emailed_at=timezone.now()
    )
    if not claimed:
        return False
    try:
        send_mail(
            subject=notification.title,
            message=notification.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[recipient.email],
        )
    except Exception:
        Notification.objects.filter(pk=notification.pk).update(emailed_at=None)
        raise
    return True


def notifications_email_due(*, user_id: int | None = None) -> int:
    """Send every due, unsent email (of one user), as the owner only (a notification held
    during a handover waits for it); returns how many left."""
    if not owns(ENTITY):
        return 0
    due = Notification.objects.filter(email_due=True, emailed_at__isnull=True)
    if user_id is not None:
        due = due.filter(user_id=user_id)
    return sum(notification_email(notification_id=pk) for pk in due.values_list("pk", flat=True))


def notifications_release_pending() -> int:
    """Call once this service owns notifications (the takeover's last step). The takeover's
    drain applied every notification the monolith made before the freeze (each clears its
    copy's `pending`), and the monolith makes none after it: a row still pending is one the
    monolith does not have and did not email (made while frozen, or a copy of an order event
    the monolith met only after the freeze). Publish each for the monolith's copy and email the
    due ones. Returns how many were published."""
    released = _release(Notification.objects.all())
    notifications_email_due()
    return released


# --- the owner's read writes ------------------------------------------------------------------


@transaction.atomic
def notification_mark_read(*, notification: Notification) -> Notification:
    require_ownership(ENTITY)
    now = timezone.now()
    if Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now):
        notification.read_at = now
        outbox_enqueue(_read_event(notification))
    else:
        notification.refresh_from_db(fields=["read_at"])
    return notification


@transaction.atomic
def notifications_mark_all_read(*, user_id: int) -> int:
    require_ownership(ENTITY)
    now = timezone.now()
    unread = list(
        Notification.objects.select_for_update().filter(user_id=user_id, read_at__isnull=True)
    )
    Notification.objects.filter(pk__in=[n.pk for n in unread], read_at__isnull=True).update(
        read_at=now
    )
    for notification in unread:
        notification.read_at = now
        outbox_enqueue(_read_event(notification))
    return len(unread)


# --- mirroring (the inbox calls these inside its transaction) ---------------------------------


def notification_merge(
    *,
    user_id: int,
    kind: str,
    order_id: int,
    title: str,
    body: str,
    created_at: datetime,
    read_at: datetime | None = None,
) -> Notification:
    """Take the other side's notification: its text and time win; read state only moves forward.

    Never emails: the side that made it did (so our copy is no longer due, nor pending).
    """
    notification, created = Notification.objects.get_or_create(
        user_id=user_id,
        kind=kind,
        order_id=order_id,
        defaults={"title": title, "body": body, "created_at": created_at, "read_at": read_at},
    )
    if not created:
        notification.title, notification.body, notification.created_at = title, body, created_at
        notification.read_at = notification.read_at or read_at
        notification.pending = False
        if notification.emailed_at is None:
            notification.email_due = False
        notification.save(
            update_fields=["title", "body", "created_at", "read_at", "pending", "email_due"]
        )
    return notification


def notification_apply_created(event: NotificationCreatedV1) -> None:
    notification_merge(
        user_id=event.user_id,
        kind=event.kind,
        order_id=event.order_id,
        title=event.title,
        body=event.body,
        created_at=datetime.fromisoformat(event.created_at),
    )


def notification_apply_read(event: NotificationReadV1) -> None:
    Notification.objects.filter(
        user_id=event.user_id, kind=event.kind, order_id=event.order_id, read_at__isnull=True
    ).update(read_at=datetime.fromisoformat(event.read_at))


def recipient_apply(event: UserCreatedV1 | UserUpdatedV1) -> None:
    Recipient.objects.update_or_create(
        user_id=event.user_id,
        defaults={"username": event.username, "email": event.email, "is_active": event.is_active},
    )
    # emails that waited for this user's address
    transaction.on_commit(lambda: notifications_email_due(user_id=event.user_id), robust=True)
