"""Backfill from the monolith's export, then the live stream: read state and times preserved,
every row merged once, live events the snapshot holds skipped, later ones applied."""

import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from contracts.notifications import NotificationReadV1
from extracted.notifications.notifications.backfill import (
    directory_backfill,
    notifications_backfill,
)
from extracted.notifications.notifications.management.commands import notifications_backfill as cmd
from extracted.notifications.notifications.models import Notification, Recipient
from servicekit.events.outbox.models import AggregateSequence
from tests.extracted.notifications.builders import (
    CUSTOMER,
    order_placed,
    user_updated,
)
from tests.support.envelopes import envelope

pytestmark = pytest.mark.django_db


def row(pk, order_id, *, user_id=CUSTOMER, kind="order_placed", read_at=None, sequence=1):
    return {
        "id": pk,
        "user_id": user_id,
        "username": f"user{user_id}",
        "email": f"user{user_id}@example.com",
        "kind": kind,
        "order_id": order_id,
        "title": f"Order {order_id} placed",
        "body": f"We received your order {order_id} (3.00 EUR).",
        "read_at": read_at,
        "created_at": "2026-02-01T10:00:00Z",
        "sequence": sequence,
    }


def pages(*row_lists):
    lists = list(row_lists)
    for index, rows in enumerate(lists):
        last = index == len(lists) - 1
        yield {"notifications": rows, "next_after": None if last else rows[-1]["id"]}


def test_backfill_copies_notifications_read_state_times_and_users():
    report = notifications_backfill(
        pages=pages(
            [row(1, 1, read_at="2026-02-02T10:00:00Z", sequence=2), row(2, 2)],
            [row(3, 3, user_id=5)],
        )
    )

    assert (report.notifications, report.pages, report.recipients, report.last_after) == (
        3,
        2,
        2,
        3,
    )
    first = Notification.objects.get(user_id=CUSTOMER, order_id=1)
    assert first.read_at == datetime(2026, 2, 2, 10, 0, tzinfo=UTC)
    assert first.created_at == datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
    assert not first.email_due  # the monolith emailed it
    assert Recipient.objects.get(user_id=5).email == "user5@example.com"
    # this service continues the stream where the monolith's snapshot stood
    assert (
        AggregateSequence.objects.get(aggregate_id=f"{CUSTOMER}:order_placed:1").last_sequence == 2
    )


def test_rerunning_is_idempotent_and_read_state_only_moves_forward():
    notifications_backfill(pages=pages([row(1, 1, read_at="2026-02-02T10:00:00Z", sequence=2)]))
    again = notifications_backfill(pages=pages([row(1, 1, read_at=None, sequence=1)]))

    assert again.notifications == 1 and again.recipients == 0
    assert Notification.objects.count() == 1
    assert Notification.objects.get().read_at is not None


def test_the_snapshot_merges_into_the_copy_made_from_orders(inbox):
    inbox.process([envelope(order_placed(1))])  # the silent copy, made a moment later here
    notifications_backfill(pages=pages([row(1, 1, read_at="2026-02-02T10:00:00Z", sequence=2)]))

    merged = Notification.objects.get()
    assert merged.created_at == datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
    assert merged.read_at is not None


def test_live_events_around_the_snapshot_apply_exactly_once(inbox):
    read = NotificationReadV1(
        user_id=CUSTOMER, kind="order_placed", order_id=1, read_at="2026-02-03T10:00:00+00:00"
    )
    inbox.process([envelope(read, sequence=2)])  # arrived first: waits for #1, never sent live

    notifications_backfill(pages=pages([row(1, 1, sequence=1)]))  # the snapshot holds #1

    assert Notification.objects.get().read_at == datetime(2026, 2, 3, 10, 0, tzinfo=UTC)
    inbox.process([envelope(read, sequence=2)])  # redelivered: already applied
    assert Notification.objects.count() == 1


def test_the_directory_keeps_what_the_users_stream_said(inbox):
    inbox.process([envelope(user_updated(email="fresh@example.com"))])
    seeded = directory_backfill(
        users=[
            {"id": CUSTOMER, "username": "old", "email": "stale@example.com"},
            {"id": 9, "username": "nine", "email": "nine@example.com"},
        ]
    )
    assert seeded == 1
    assert Recipient.objects.get(user_id=CUSTOMER).email == "fresh@example.com"
    assert Recipient.objects.get(user_id=9).username == "nine"


class FakeResponse:
    def __init__(self, status, body):
        self.status, self.data = status, json.dumps(body).encode()

    def json(self):
        return json.loads(self.data)


class FakeMonolith:
    """Answers the command's calls the way the monolith's APIs do; remembers the paths."""

    calls: list[str] = []

    def __init__(self, *args, **kwargs):
        FakeMonolith.calls = []

    def post(self, path, json=None, headers=None):
        assert json == {"username": "staff", "password": "pw"}
        return FakeResponse(200, {"access": "token-1", "refresh": "r"})

    def get(self, path, headers=None):
        FakeMonolith.calls.append(path)
        assert headers == {"Authorization": "Bearer token-1"}
        if path.startswith("/api/v1/notifications/export/?after=0"):
            return FakeResponse(200, {"notifications": [row(4, 1)], "next_after": 4})
        if path.startswith("/api/v1/notifications/export/?after=4"):
            return FakeResponse(200, {"notifications": [row(7, 2)], "next_after": None})
        if path.startswith("/api/v1/users/?page=1"):
            users = [{"id": 9, "username": "nine", "email": "nine@example.com"}]
            return FakeResponse(200, {"count": 1, "next": None, "previous": None, "results": users})
        return FakeResponse(404, {"code": "not_found"})


def test_the_command_logs_in_pages_through_the_export_and_seeds_users(monkeypatch, capsys):
    monkeypatch.setattr(cmd, "ServiceClient", FakeMonolith)
    monkeypatch.setenv("BACKFILL_PASSWORD", "pw")

    call_command("notifications_backfill", "--source", "http://monolith", "--page-size", "1")

    assert FakeMonolith.calls == [
        "/api/v1/notifications/export/?after=0&limit=1",
        "/api/v1/notifications/export/?after=4&limit=1",
        "/api/v1/users/?page=1&page_size=100",
    ]
    assert Notification.objects.count() == 2
    assert set(Recipient.objects.values_list("user_id", flat=True)) == {CUSTOMER, 9}
    assert "backfilled 2 notifications in 2 pages (last id 7)" in capsys.readouterr().out
