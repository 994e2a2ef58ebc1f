"""`notifications_takeover`: freeze, drain, move the route, flip; a notification made while
frozen is held, then published and emailed once the service owns notifications."""

import io
import shutil
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from extracted.notifications.notifications.models import Notification
from servicekit.events.outbox.models import OutboxMessage
from servicekit.migration.export_client import ExportSource
from servicekit.migration.ownership import owner_of, ownership_set
from tests.extracted.notifications.builders import order_placed, user_created
from tests.extracted.notifications.test_backfill import row
from tests.extracted.notifications.test_ownership_and_read_sync import monolith_created
from tests.support.envelopes import envelope

pytestmark = pytest.mark.django_db(transaction=True)
ROUTES_TEMPLATE = Path(__file__).resolve().parents[3] / "strangler_proxy" / "routes.yaml"


@pytest.fixture
def routes_file(tmp_path):
    path = tmp_path / "routes.yaml"
    shutil.copy(ROUTES_TEMPLATE, path)
    return path


def route_mode(path):
    routes = yaml.safe_load(path.read_text())["routes"]
    return next(r for r in routes if r["name"] == "notifications")["mode"]


def takeover(routes_file, *extra):
    out = io.StringIO()
    call_command(
        "notifications_takeover",
        "--source=http://monolith.invalid",
        "--token=staff-token",
        "--route=notifications",
        f"--routes-file={routes_file}",
        "--timeout=1",
        *extra,
        stdout=out,
    )
    return out.getvalue()


def test_the_takeover_waits_for_every_change_then_flips_and_releases_the_held(
    routes_file, monkeypatch, inbox, mailoutbox
):
    # given: the monolith's notification 3 (sequence 1) is applied here, and order 4 arrives
    # while writes are frozen (the grace period of the handover)
    inbox.process([envelope(user_created())])
    inbox.process([envelope(order_placed(3)), envelope(monolith_created(), sequence=1)])
    made_while_frozen = []

    def pages(self, path):
        assert path == "/api/v1/notifications/export/"
        if not made_while_frozen:
            assert owner_of("notification") == "frozen"
            inbox.process([envelope(order_placed(4))])
            made_while_frozen.append(4)
        yield {"notifications": [row(1, 3, sequence=1)], "next_after": None}

    monkeypatch.setattr(ExportSource, "pages", pages)

    out = takeover(routes_file)

    # then: owner and route moved, and the held notification went out once
    assert owner_of("notification") == "notifications"
    assert route_mode(routes_file) == "extracted"
    assert "notification: writes frozen (was monolith)" in out
    assert "notification: 1 pending (made while frozen" in out
    held = Notification.objects.get(order_id=4)
    assert held.emailed_at is not None and [m.subject for m in mailoutbox] == [held.title]
    published = OutboxMessage.objects.filter(event_type="notifications.notification_created.v1")
    assert list(published.values_list("aggregate_id", flat=True)) == [
        f"{held.user_id}:order_placed:4"
    ]


def test_a_takeover_that_cannot_drain_gives_ownership_and_the_route_back(routes_file, monkeypatch):
    # the export shows a change (sequence 2) this service never applied
    monkeypatch.setattr(
        ExportSource,
        "pages",
        lambda self, path: iter([{"notifications": [row(1, 3, sequence=2)], "next_after": None}]),
    )

    with pytest.raises(CommandError, match="1 notification rows still not applied"):
        takeover(routes_file)

    assert owner_of("notification") == "monolith"
    assert route_mode(routes_file) == "monolith"


def test_held_notifications_are_not_emailed_while_frozen(inbox, mailoutbox):
    inbox.process([envelope(user_created())])
    ownership_set("notification", "frozen")

    inbox.process([envelope(order_placed(5))])
    inbox.process([envelope(user_created(email="new@example.com"))])  # would email what is due

    assert Notification.objects.get(order_id=5).email_due and not mailoutbox
    assert not OutboxMessage.objects.filter(event_type__startswith="notifications.").exists()


def test_a_copy_the_monolith_never_made_is_published_and_emailed_by_the_takeover(
    routes_file, monkeypatch, inbox, mailoutbox
):
    # given: the service met order 6's event while the monolith owned notifications (a silent
    # copy); the monolith met it only after the freeze, so it made nothing and emailed nobody
    inbox.process([envelope(user_created())])
    inbox.process([envelope(order_placed(6))])
    copy = Notification.objects.get(order_id=6)
    assert copy.pending and not copy.email_due and not mailoutbox
    monkeypatch.setattr(
        ExportSource, "pages", lambda self, path: iter([{"notifications": [], "next_after": None}])
    )

    # when: the takeover
    out = takeover(routes_file)

    # then: the monolith gets it (published) and the customer gets the email, once
    assert "notification: 1 pending" in out
    copy.refresh_from_db()
    assert not copy.pending and copy.emailed_at is not None
    assert [m.subject for m in mailoutbox] == [copy.title]
    published = OutboxMessage.objects.filter(event_type="notifications.notification_created.v1")
    assert list(published.values_list("aggregate_id", flat=True)) == [
        f"{copy.user_id}:order_placed:6"
    ]


def test_a_copy_that_commits_after_the_release_is_settled_once_the_service_owns(inbox, mailoutbox):
    # given: order 7's event is applied while frozen, and the flip (and the takeover's release
    # of the pending rows) happen between the ownership check and the commit
    from django.db import transaction

    inbox.process([envelope(user_created())])
    ownership_set("notification", "frozen")
    with transaction.atomic():
        inbox.process([envelope(order_placed(7))])
        ownership_set("notification", "notifications")

    # then: settled after commit as the owner would have: published and emailed
    made = Notification.objects.get(order_id=7)
    assert not made.pending and made.emailed_at is not None
    assert [m.subject for m in mailoutbox] == [made.title]
    assert OutboxMessage.objects.filter(
        event_type="notifications.notification_created.v1", aggregate_id__endswith=":7"
    ).exists()


def test_the_monolith_event_for_a_copy_clears_pending_and_the_email(inbox, mailoutbox):
    # a copy held while frozen, then the monolith's own event for it (it made and emailed it
    # before the freeze): not pending, not due, never emailed here
    inbox.process([envelope(user_created())])
    ownership_set("notification", "frozen")
    inbox.process([envelope(order_placed(3))])
    assert Notification.objects.get(order_id=3).email_due
    inbox.process([envelope(monolith_created(), sequence=1)])
    ownership_set("notification", "notifications")
    from extracted.notifications.notifications.services import notifications_release_pending

    assert notifications_release_pending() == 0
    made = Notification.objects.get(order_id=3)
    assert not made.pending and not made.email_due and not mailoutbox
