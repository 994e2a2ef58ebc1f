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
    assert "notification: 1 held during the freeze published and emailed" in out
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
