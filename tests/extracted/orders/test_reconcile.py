"""Order reconciliation on the orders service's side (the monolith owns orders)."""

import pytest

from extracted.orders.orders.backfill import BackfillReport, orders_pages_apply
from extracted.orders.orders.models import Order, OrderLine
from tests.extracted.orders.test_api_and_history import _export_row
from tests.support.reconcile import FakeExport, drift_kinds, reconcile_here

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def outcomes_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def orders_export(*rows):
    return FakeExport().serve("/api/v1/orders/export/", "orders", list(rows))


def copy(*rows):
    list(orders_pages_apply([{"orders": [dict(r) for r in rows]}], BackfillReport()))


def test_orders_that_drifted_are_found_and_repaired():
    # given the monolith's orders 41..44; our copy of 42 has another status, 43 another line,
    # 44 is missing and 50 is only here
    rows = [_export_row(n, key=None) for n in (41, 42, 43, 44)]
    copy(*rows[:3], _export_row(50, key=None))
    Order.objects.filter(pk=42).update(status="cancelled")
    OrderLine.objects.filter(order_id=43).update(quantity=5)
    export = orders_export(*rows)

    found = reconcile_here(export)["order"]

    assert drift_kinds(found) == [
        ("42", "different"),
        ("43", "different"),
        ("44", "missing"),
        ("50", "extra"),
    ]
    assert found.drift[0].fields == {"status": ("pending", "cancelled")}

    repaired = reconcile_here(export, fix=True)["order"]

    assert (repaired.repaired, repaired.remaining) == (3, 1)  # order 50 is left to a person
    assert Order.objects.get(pk=42).status == "pending"
    assert OrderLine.objects.get(order_id=43).quantity == 2
    assert Order.objects.filter(pk=44).exists()
    assert drift_kinds(reconcile_here(export)["order"]) == [("50", "extra")]


def test_once_this_service_owns_orders_the_monolith_is_the_mirror(orders_owned):
    copy(_export_row(41, key=None))

    report = reconcile_here(orders_export(_export_row(42, key=None)), fix=True)["order"]

    # direction follows ownership: our rows are the truth, the monolith's export the copy
    assert (report.owner, report.mirror) == ("orders", "monolith")
    assert drift_kinds(report) == [("41", "missing"), ("42", "extra")]
    # the monolith repairs its own copy (its reconcile, over this service's export)
    assert report.remaining == 2 and "on the mirror (monolith)" in report.summary()
    assert list(Order.objects.values_list("pk", flat=True)) == [41]
