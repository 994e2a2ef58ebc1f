"""Notification reconciliation on the notifications service's side, keyed `user:kind:order`."""

import pytest
from django.test import Client

from extracted.notifications.notifications.backfill import notifications_backfill
from extracted.notifications.notifications.models import Notification
from tests.extracted.notifications.test_backfill import pages, row
from tests.support.reconcile import FakeExport, drift_gauges, drift_kinds, reconcile_here

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def outcomes_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def test_notifications_that_drifted_are_found_and_repaired():
    # given the monolith's 1..4 (3 read); ours has 2 retitled, 3 unread, 4 missing, 9 only here
    rows = [row(n, n, read_at="2026-02-02T10:00:00Z" if n == 3 else None) for n in (1, 2, 3, 4)]
    notifications_backfill(pages=pages([{**r, "read_at": None} for r in rows[:3]], [row(9, 9)]))
    Notification.objects.filter(order_id=2).update(title="Changed")
    export = FakeExport().serve("/api/v1/notifications/export/", "notifications", rows)

    found = reconcile_here(export)["notification"]

    key = "2:order_placed:{}".format  # user 2 (CUSTOMER), one per order
    assert drift_kinds(found) == [
        (key(2), "different"),
        (key(3), "different"),
        (key(4), "missing"),
        (key(9), "extra"),
    ]
    assert found.drift[1].fields == {"read": (True, False)}
    assert drift_gauges(Client()) == {"notification": 4}

    repaired = reconcile_here(export, fix=True)["notification"]

    assert (repaired.repaired, repaired.remaining) == (4, 0)
    assert Notification.objects.get(order_id=2).title == "Order 2 placed"
    assert Notification.objects.get(order_id=3).read_at is not None
    assert not Notification.objects.filter(order_id=9).exists()
    assert reconcile_here(export)["notification"].clean
    assert drift_gauges(Client()) == {"notification": 0}
