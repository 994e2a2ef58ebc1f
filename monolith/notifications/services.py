"""Creating, emailing and reading notifications.

While notifications are replicated with the notifications service (servicekit.migration.ownership, entity
"notification"), only the owner makes, emails and marks them read, and publishes each change;
the other side mirrors those events (`*_apply_*`), so both hold the same notifications.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from contracts.notifications import NotificationCreatedV1, NotificationReadV1
from monolith.notifications.models import Notification, NotificationKind
from servicekit.events.outbox import outbox_enqueue
from servicekit.migration.ownership import owns, require_ownership

ENTITY = "notification"

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
    """Make the notification once per (user, kind, order); a repeat returns the first.

    As the owner, the new notification is published. Otherwise it is a silent copy, `pending`
    until the notifications service's own event for it arrives (`notification_apply_created`);
    if this side takes notifications back first, the hand-back publishes and emails it
    (`notifications_release_pending`), and a copy that commits just after that release is
    settled after commit (`notification_settle`).
    """
    owner = owns(ENTITY)
    title, body = (
        t.format(id=order_id, total=total, currency=currency, reason=reason) for t in _TEXT[kind]
    )
    notification, created = Notification.objects.get_or_create(
        user_id=user_id,
        kind=kind,
        order_id=order_id,
        defaults={"title": title, "body": body, "pending": not owner},
    )
    if created and owner:
        outbox_enqueue(_created_event(notification))
    elif created:
        transaction.on_commit(
            lambda: notification_settle(notification_id=notification.pk), robust=True
        )
    return notification, created


def notification_for_order_event(
    *, user_id: int, kind: str, order_id: int, total: str = "", currency: str = "", reason: str = ""
) -> Notification | None:
    """React to an order event: the notification to email (made here, as the owner), or None.

    None when the user is gone, when this event's notification already existed (a mirrored one
    the service emailed, or a repeat: the first reaction emailed it), or when the notifications
    service owns them (it makes and emails them; the silent copy made here is kept for a
    hand-back that comes before the service's own event).
    """
    if not user_exists(user_id):
        return None
    notification, created = notification_for_order(
        user_id=user_id, kind=kind, order_id=order_id, total=total, currency=currency, reason=reason
    )
    return notification if created and not notification.pending else None


def notification_settle(*, notification_id: int) -> bool:
    """A pending copy checked after its commit: if this side owns notifications by now (the
    hand-back's flip came between the ownership check and the commit, after the release),
    publish and email it as the owner would have. Returns whether it was settled."""
    if not owns(ENTITY):
        return False
    return bool(_release(Notification.objects.filter(pk=notification_id)))


def notifications_release_pending() -> int:
    """Call once this side owns notifications again (the hand-back's last step). The hand-back
    drained every notification the service published (each cleared its copy's `pending`) and
    the service publishes none after the freeze: a row still pending is one the service never
    made, or made while frozen and never sent. Publish each for the service's copy and email
    it (the Celery task, after commit). Returns how many."""
    return _release(Notification.objects.all())


def _release(rows) -> int:
    """Publish the pending rows among `rows` and queue their emails after commit (the service's
    merge is idempotent, so a row published twice is harmless). Returns how many."""
    # tasks.py imports this module: the task is looked up when first needed
    from monolith.notifications.tasks import notification_send_email

    with transaction.atomic():
        pending = list(rows.select_for_update().filter(pending=True))
        for notification in pending:
            outbox_enqueue(_created_event(notification))
            notification.pending = False
            notification.save(update_fields=["pending"])
            transaction.on_commit(
                lambda pk=notification.pk: notification_send_email.delay(notification_id=pk),
                robust=True,
            )
    return len(pending)


def notification_email(*, notification_id: int) -> bool:
    """Email a notification once; returns whether a mail left. Call outside any transaction.

    Only the owner emails: once the notifications service owns them, it does.
    """
    notification = Notification.objects.select_related("user").get(pk=notification_id)
    if notification.emailed_at is not None or not notification.user.email or not owns(ENTITY):
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
def notifications_mark_all_read(*, user) -> int:
    require_ownership(ENTITY)
    now = timezone.now()
    unread = list(Notification.objects.select_for_update().filter(user=user, read_at__isnull=True))
    Notification.objects.filter(pk__in=[n.pk for n in unread]).update(read_at=now)
    for notification in unread:
        notification.read_at = now
        outbox_enqueue(_read_event(notification))
    return len(unread)


def user_exists(user_id: int) -> bool:
    return get_user_model().objects.filter(pk=user_id).exists()


def _created_event(notification: Notification) -> NotificationCreatedV1:
    return NotificationCreatedV1(
        user_id=notification.user_id,
        kind=notification.kind,
        order_id=notification.order_id,
        title=notification.title,
        body=notification.body,
        created_at=notification.created_at.isoformat(),
    )


def _read_event(notification: Notification) -> NotificationReadV1:
    return NotificationReadV1(
        user_id=notification.user_id,
        kind=notification.kind,
        order_id=notification.order_id,
        read_at=notification.read_at.isoformat(),
    )


# --- mirroring the notifications service's events once it owns them (the inbox calls these) --


def notification_apply_created(event: NotificationCreatedV1, *, pending: bool = False) -> None:
    """Take the service's notification: its text and time win; never emailed from here (the
    service did), so a copy of it stops being pending. `pending=True` takes one the service
    made but never published nor emailed (while frozen, from its export), for the hand-back's
    release to publish and email."""
    if not user_exists(event.user_id):
        return
    notification, _created = Notification.objects.get_or_create(
        user_id=event.user_id,
        kind=event.kind,
        order_id=event.order_id,
        defaults={"title": event.title, "body": event.body},
    )
    # `created_at` is auto_now_add: set after the insert so both sides show the same time
    Notification.objects.filter(pk=notification.pk).update(
        title=event.title,
        body=event.body,
        created_at=datetime.fromisoformat(event.created_at),
        pending=pending,
    )


def notification_apply_read(event: NotificationReadV1) -> None:
    """Read state only moves forward, so a replay or a stale event changes nothing."""
    Notification.objects.filter(
        user_id=event.user_id, kind=event.kind, order_id=event.order_id, read_at__isnull=True
    ).update(read_at=datetime.fromisoformat(event.read_at))
