"""Account reconciliation on the users service's side: drift found, repaired, metric."""

import threading

import pytest
from django.core.management import call_command
from django.test import Client

from extracted.users.accounts.backfill import user_row_apply
from extracted.users.accounts.models import User
from tests.extracted.users.test_mirror_and_backfill import export_row
from tests.support.reconcile import FakeExport, drift_gauges, drift_kinds, reconcile_here

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def outcomes_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def test_accounts_that_drifted_are_found_and_repaired_but_an_extra_one_is_left_to_a_person():
    # given the monolith's accounts 1..3, ours with 2 renamed, 3 missing and 9 only here
    rows = [export_row(n, f"user{n}", sequence=1) for n in (1, 2, 3)]
    for row in (rows[0], rows[1], export_row(9, "ghost", sequence=1)):
        user_row_apply(row)
    User.objects.filter(pk=2).update(email="changed@example.com")
    export = FakeExport().serve("/api/v1/users/export/", "users", rows)

    found = reconcile_here(export)["user"]

    assert drift_kinds(found) == [("2", "different"), ("3", "missing"), ("9", "extra")]
    assert found.drift[0].fields == {"email": ("user2@example.com", "changed@example.com")}
    assert drift_gauges(Client()) == {"user": 3}

    repaired = reconcile_here(export, fix=True)["user"]

    assert (repaired.repaired, repaired.remaining) == (2, 1)
    assert "1 rows not repaired" in repaired.summary()
    assert User.objects.get(pk=2).email == "user2@example.com"
    assert User.objects.get(pk=3).password == rows[2]["password_hash"]
    assert drift_kinds(reconcile_here(export)["user"]) == [("9", "extra")]
    assert drift_gauges(Client()) == {"user": 1}


def test_a_changed_password_hash_is_drift(users_owned):
    row = export_row(1, "ann", sequence=1)
    user_row_apply(row)
    User.objects.filter(pk=1).update(password="other")
    export = FakeExport().serve("/api/v1/users/export/", "users", [row])

    report = reconcile_here(export, fix=True)["user"]

    # we own accounts now: the monolith is the mirror, and no event repairs it from here
    assert (report.owner, report.mirror) == ("users", "monolith")
    assert drift_kinds(report) == [("1", "different")]
    assert report.remaining == 1 and "on the mirror (monolith)" in report.summary()
    assert User.objects.get(pk=1).password == "other"


def test_the_command_runs_periodically_and_survives_a_peer_that_is_down(monkeypatch, capsys):
    from servicekit.migration.export_client import ExportError
    from servicekit.migration.management.commands import reconcile as command

    row = export_row(1, "ann", sequence=1)
    export = FakeExport().serve("/api/v1/users/export/", "users", [row])
    answers = iter([ExportError("monolith down"), export, export])

    def staff_source(url, **kwargs):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(command, "staff_source", staff_source)
    monkeypatch.setattr(command, "stop_on_signals", threading.Event)  # keep pytest's handlers

    call_command("reconcile", "--every", "0.01", "--passes", "3", "--repair")

    captured = capsys.readouterr()
    assert "reconcile pass failed: monolith down" in captured.err
    assert "repaired 1 rows in the mirror (users)" in captured.out  # the second pass
    assert captured.out.count("no drift") == 1  # the third
    assert User.objects.get(pk=1).username == "ann"
