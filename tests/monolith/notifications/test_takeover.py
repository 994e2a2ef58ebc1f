"""The hand-back: the monolith takes notifications back from the notifications service through
the same freeze/drain/flip, and takes the rows no event will bring from the service's export."""

import io
import shutil
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.db import transaction

from monolith.notifications import services
from monolith.notifications.models import Notification
from servicekit.events.inbox.models import InboxCursor
from servicekit.events.outbox.models import OutboxMessage
from servicekit.migration.export_client import ExportSource
from servicekit.migration.ownership import owner_of, ownership_set
from servicekit.migration.proxy_routes import ProxyRoutes
from tests.monolith.factories import UserFactory
from tests.monolith.notifications.support import service_created

pytestmark = pytest.mark.django_db(transaction=True)
ROUTES_TEMPLATE = Path(__file__).resolve().parents[3] / "strangler_proxy" / "routes.yaml"


@pytest.fixture
def service_owns(settings, tmp_path):
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")
    ownership_set("notification", "notifications")
    routes = tmp_path / "routes.yaml"
    shutil.copy(ROUTES_TEMPLATE, routes)
    ProxyRoutes(routes_file=str(routes)).set_mode("notifications", "extracted")
    return routes


def exported(user, order_id, *, sequence, read_at=None):
    return {
        "id": order_id,
        "user_id": user.pk,
        "username": user.username,
        "email": user.email,
        "kind": "order_placed",
        "order_id": order_id,
        "title": f"Order {order_id} placed",
        "body": "We received your order.",
        "read_at": read_at,
        "created_at": "2026-03-01T12:00:00+00:00",
        "sequence": sequence,
    }


def hand_back(routes):
    out = io.StringIO()
    call_command(
        "notifications_takeover",
        "--source=http://notifications.invalid",
        "--token=staff-token",
        "--route=notifications",
        f"--routes-file={routes}",
        "--timeout=1",
        stdout=out,
    )
    return out.getvalue()


def published():
    created = OutboxMessage.objects.filter(event_type="notifications.notification_created.v1")
    return list(created.order_by("id").values_list("aggregate_id", flat=True))


def route_mode(routes):
    data = yaml.safe_load(routes.read_text())["routes"]
    return next(r for r in data if r["name"] == "notifications")["mode"]


def test_the_monolith_takes_notifications_back_with_what_was_held(
    service_owns, monkeypatch, mailoutbox
):
    # given: the service's notification of order 7 reached us (sequence 2); order 8's was made
    # while frozen and never published (sequence 0)
    user = UserFactory()
    InboxCursor.objects.create(
        consumer="monolith.notifications",
        aggregate_type="notification",
        aggregate_id=f"{user.pk}:order_placed:7",
        last_sequence=2,
    )
    rows = [exported(user, 7, sequence=2), exported(user, 8, sequence=0)]
    monkeypatch.setattr(
        ExportSource,
        "pages",
        lambda self, path: iter([{"notifications": [dict(r) for r in rows], "next_after": None}]),
    )

    out = hand_back(service_owns)

    assert owner_of("notification") == "monolith" and route_mode(service_owns) == "monolith"
    assert "route notifications: monolith" in out
    # order 7 came through the service's event (it emailed it); order 8 was held there, never
    # published nor emailed: the monolith publishes it and emails it, once
    assert "notification: 1 pending (made while frozen" in out
    held = Notification.objects.get(order_id=8)
    assert held.title == "Order 8 placed" and not held.pending and held.emailed_at is not None
    assert [m.subject for m in mailoutbox] == ["Order 8 placed"]
    assert published() == [f"{user.pk}:order_placed:8"]


def test_a_copy_the_service_never_made_is_published_and_emailed_by_the_hand_back(
    service_owns, monkeypatch, mailoutbox
):
    # given: the monolith met order 9's event while the service owned notifications (a silent
    # copy); the service met it only after the freeze, so it published nothing, emailed nobody
    user = UserFactory()
    services.notification_for_order_event(user_id=user.pk, kind="order_placed", order_id=9)
    assert Notification.objects.get(order_id=9).pending and not mailoutbox
    monkeypatch.setattr(
        ExportSource, "pages", lambda self, path: iter([{"notifications": [], "next_after": None}])
    )

    out = hand_back(service_owns)

    assert "notification: 1 pending" in out
    copy = Notification.objects.get(order_id=9)
    assert not copy.pending and copy.emailed_at is not None
    assert [m.subject for m in mailoutbox] == ["Order 9 placed"]
    assert published() == [f"{user.pk}:order_placed:9"]


def test_a_copy_that_commits_after_the_release_is_settled_once_the_monolith_owns(
    service_owns, mailoutbox
):
    # given: order 10's event met while frozen; the flip (and the hand-back's release of the
    # pending rows) happen between the ownership check and the commit
    user = UserFactory()
    ownership_set("notification", "frozen")
    with transaction.atomic():
        services.notification_for_order_event(user_id=user.pk, kind="order_placed", order_id=10)
        ownership_set("notification", "monolith")

    made = Notification.objects.get(order_id=10)
    assert not made.pending and made.emailed_at is not None
    assert [m.subject for m in mailoutbox] == ["Order 10 placed"]
    assert published() == [f"{user.pk}:order_placed:10"]


def test_the_services_event_for_a_copy_leaves_nothing_to_release(service_owns, mailoutbox):
    user = UserFactory()
    services.notification_for_order_event(user_id=user.pk, kind="order_placed", order_id=11)
    services.notification_apply_created(service_created(user_id=user.pk, order_id=11))
    ownership_set("notification", "monolith")

    assert services.notifications_release_pending() == 0
    assert not Notification.objects.get(order_id=11).pending and not mailoutbox
    assert published() == []


def test_a_hand_back_that_cannot_drain_leaves_the_service_owning(service_owns, monkeypatch):
    user = UserFactory()
    monkeypatch.setattr(
        ExportSource,
        "pages",
        lambda self, path: iter(
            [{"notifications": [exported(user, 7, sequence=3)], "next_after": None}]
        ),
    )

    with pytest.raises(CommandError, match="still not applied"):
        hand_back(service_owns)

    assert owner_of("notification") == "notifications"
    assert route_mode(service_owns) == "extracted"
