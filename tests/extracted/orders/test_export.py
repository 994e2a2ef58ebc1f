"""The staff export the monolith drains when it takes orders back (chapter 07's rollback)."""

from __future__ import annotations

import pytest

from tests.extracted.orders.fakes import settle
from tests.extracted.orders.test_saga import place
from tests.support.shapes import assert_problem

pytestmark = pytest.mark.django_db


def test_rows_carry_sequence_key_and_the_running_checkout(customer, staff, catalog):
    # given one order settled and one whose checkout still runs
    done = place(customer, ("MUG-1", 1), key="kept-key").json()["id"]
    settle(catalog)
    running = place(customer, ("MUG-1", 2)).json()["id"]
    # when staff read the export
    page = staff.get("/api/v1/orders/export/").json()
    rows = {row["id"]: row for row in page["orders"]}
    # then each row says how far its event stream went and whether a checkout runs
    assert page["next_after"] is None and list(rows) == [done, running]
    assert (rows[done]["status"], rows[done]["checkout"]) == ("confirmed", None)
    assert rows[done]["sequence"] == 2  # placed, confirmed
    assert rows[done]["idempotency_key"] == "kept-key" and rows[done]["request_fingerprint"]
    assert (rows[running]["checkout"], rows[running]["sequence"]) == ("reserving", 1)
    assert rows[running]["lines"][0]["quantity"] == 2


def test_pages_follow_ids(customer, staff, catalog):
    ids = [place(customer, ("MUG-1", 1)).json()["id"] for _ in range(3)]
    first = staff.get("/api/v1/orders/export/?limit=2").json()
    assert [r["id"] for r in first["orders"]] == ids[:2] and first["next_after"] == str(ids[1])
    rest = staff.get(f"/api/v1/orders/export/?after={first['next_after']}").json()
    assert [r["id"] for r in rest["orders"]] == ids[2:]


def test_only_staff_read_it_and_bad_paging_is_a_400(customer, staff, catalog):
    assert_problem(customer.get("/api/v1/orders/export/"), 403, "permission_denied")
    bad_after = assert_problem(staff.get("/api/v1/orders/export/?after=²"), 400, "validation_error")
    assert [e["field"] for e in bad_after["errors"]] == ["after"]
    assert_problem(staff.get("/api/v1/orders/export/?limit=0"), 400, "validation_error")
