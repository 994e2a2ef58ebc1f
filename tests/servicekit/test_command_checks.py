"""The fleet's workers and the operator commands start without Django's system checks: the checks
import every URLconf (DRF, GraphQL), a second or two of CPU at each start, for processes that
serve no URL (every relay and consumer of a fleet, every backfill and takeover of the tutorial)."""

from __future__ import annotations

import io

import pytest
from django.core.management import get_commands, load_command_class
from django.core.management.base import BaseCommand

from servicekit.migration.backfill import BackfillCommand
from servicekit.migration.handover import TakeoverCommand

# installed in the monolith's settings; the services' own takeovers and backfills are the mixins
MONOLITH_COMMANDS = ["outbox_relay", "inbox_consume", "reconcile", "catalog_takeover"]


def checks_run_at_start(command: BaseCommand, monkeypatch) -> list[dict]:
    """The system-check runs `execute` (what `manage.py NAME` calls) makes before `handle`."""
    ran: list[dict] = []
    monkeypatch.setattr(type(command), "check", lambda self, **kwargs: ran.append(kwargs))
    monkeypatch.setattr(type(command), "handle", lambda self, *args, **options: "")
    command.execute(
        skip_checks=False, force_color=False, no_color=True, stdout=io.StringIO(), stderr=None
    )
    return ran


@pytest.mark.parametrize("name", MONOLITH_COMMANDS)
def test_worker_and_operator_commands_start_without_system_checks(name, monkeypatch):
    command = load_command_class(get_commands()[name], name)
    assert checks_run_at_start(command, monkeypatch) == []


@pytest.mark.parametrize("mixin", [BackfillCommand, TakeoverCommand])
def test_every_backfill_and_takeover_starts_without_system_checks(mixin, monkeypatch):
    command_class = type("Command", (mixin, BaseCommand), {})
    assert checks_run_at_start(command_class(), monkeypatch) == []


def test_a_plain_command_still_runs_the_checks(monkeypatch):
    """What the tests above would see without the setting: Django's default, checks first."""
    command_class = type("Command", (BaseCommand,), {})
    assert len(checks_run_at_start(command_class(), monkeypatch)) == 1
