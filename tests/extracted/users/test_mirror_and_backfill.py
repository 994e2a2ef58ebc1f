"""Phase 1: the service copies the monolith's accounts (backfill + live mirror, password hashes
included), so a monolith customer logs in here with the password they already have."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password

from contracts.users import UserUpdatedV1
from extracted.users.accounts import services
from extracted.users.accounts.backfill import users_backfill
from extracted.users.accounts.models import User
from servicekit.events.inbox.models import InboxCursor
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import get_consumer
from tests.extracted.users.builders import (
    PASSWORD,
    login,
    password_changed,
    user_created,
)
from tests.support.envelopes import envelope

pytestmark = pytest.mark.django_db


def consume(*envelopes) -> None:
    InboxProcessor(get_consumer("users")).process(list(envelopes))


def export_row(user_id: int, username: str, *, sequence: int, password: str = PASSWORD) -> dict:
    return {
        "id": user_id,
        "username": username,
        "email": f"{username}@example.com",
        "first_name": "",
        "last_name": "",
        "is_staff": False,
        "is_active": True,
        "date_joined": "2026-01-01T00:00:00Z",
        "password_hash": make_password(password),
        "sequence": sequence,
    }


def test_mirrored_account_logs_in_with_its_monolith_password(api):
    # given: the monolith registered carol (id 41) and later renamed her
    consume(
        envelope(user_created(41), sequence=1),
        envelope(password_changed(41), sequence=2),
        envelope(
            UserUpdatedV1(
                user_id=41,
                username="carol",
                email="carol@example.com",
                first_name="Carol",
                last_name="",
                is_staff=False,
                is_active=True,
            ),
            sequence=3,
        ),
    )
    # then: same id, same profile, and her password works here
    carol = User.objects.get(pk=41)
    assert carol.first_name == "Carol" and carol.check_password(PASSWORD)
    assert login(api, "carol")["access"]


def test_own_events_coming_back_are_not_applied_again():
    consume(envelope(user_created(7, username="echo"), origin="users", sequence=1))
    assert not User.objects.filter(pk=7).exists()


def test_backfill_copies_hashes_and_skips_rows_the_stream_already_passed(api):
    # given: the live stream already applied user 2 up to sequence 5
    consume(*(envelope(user_created(2, username="bob"), sequence=s) for s in range(1, 6)))
    pages = [
        {"users": [export_row(1, "alice", sequence=2)], "next_after": "1"},
        {
            "users": [export_row(2, "bob", sequence=3, password="old-pass-phrase")],
            "next_after": None,
        },
    ]
    # when
    report = users_backfill(pages=iter(pages))
    # then
    assert (report.users, report.skipped_newer, report.pages) == (1, 1, 2)
    assert User.objects.get(pk=1).check_password(PASSWORD)
    assert not User.objects.get(pk=2).check_password("old-pass-phrase")
    cursor = InboxCursor.objects.get(consumer="users", aggregate_type="user", aggregate_id="1")
    assert cursor.last_sequence == 2
    # a rerun changes nothing
    assert users_backfill(pages=iter(pages)).users == 0


def test_registration_after_the_backfill_continues_the_ids(users_owned):
    users_backfill(
        pages=iter([{"users": [export_row(40, "alice", sequence=2)], "next_after": None}])
    )
    new = services.user_register(username="dora", email="dora@example.com", password=PASSWORD)
    assert new.pk > 40
