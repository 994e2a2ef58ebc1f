"""The monolith's side of moving accounts to the users service (migrations_plan/ chapter 08):
the staff export, the refusal once it lost ownership, the mirror that keeps the storefront's
session login working, and tokens that keep verifying across the key ring."""

from __future__ import annotations

import re
from pathlib import Path

import jwt
import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client

from contracts.users import UserCreatedV1, UserPasswordChangedV1
from monolith.users.models import User
from servicekit.events.envelope import Envelope
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import get_consumer
from servicekit.migration.ownership import ownership_set
from servicekit.web.jwt.conf import key_ring, max_token_lifetime, signing_key, token_policy
from servicekit.web.jwt.keys import SigningKey, generate_private_pem
from servicekit.web.jwt.tokens import ACCESS, token_issue
from tests.monolith.clients import bearer_client
from tests.monolith.factories import PASSWORD
from tests.support.envelopes import envelope as shared_envelope
from tests.support.shapes import assert_problem

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_ring_and_ownership(settings, tmp_path):
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")
    settings.SERVICEKIT_JWT = {
        **settings.SERVICEKIT_JWT,
        "KEYS_DIR": str(tmp_path / "jwt"),
        "PRIVATE_KEY_PATH": str(tmp_path / "legacy" / "private.pem"),
        "PRIVATE_KEY_PEM": None,
    }


def envelope(event, sequence: int) -> Envelope:
    return shared_envelope(event, origin="users", sequence=sequence)


def storefront_login(username: str, password: str) -> Client:
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/accounts/login/").content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = browser.post(
        "/accounts/login/",
        {"username": username, "password": password, "csrfmiddlewaretoken": csrf},
    )
    browser.logged_in = response.status_code == 302
    return browser


def test_export_is_staff_only_and_carries_hashes_and_sequences(
    staff_client, customer_client, customer
):
    assert customer_client.get("/api/v1/users/export/").status_code == 403
    page = staff_client.get("/api/v1/users/export/", {"after": "", "limit": 1000}).json()
    row = next(r for r in page["users"] if r["id"] == customer.pk)
    assert row["password_hash"] == User.objects.get(pk=customer.pk).password
    assert row["sequence"] == 0 and page["next_after"] is None  # made by a factory: no event
    registered = staff_client.post(
        "/api/v1/users/",
        {"username": "dora", "email": "dora@example.com", "password": "a-long-pass-phrase"},
        format="json",
    ).json()
    page = staff_client.get("/api/v1/users/export/", {"after": customer.pk}).json()
    (row,) = [r for r in page["users"] if r["id"] == registered["id"]]
    assert row["sequence"] == 2  # user_created + password_changed


def test_registration_and_profile_writes_are_refused_once_the_service_owns_accounts(
    anon_client, customer_client
):
    ownership_set("user", "users")
    response = anon_client.post(
        "/api/v1/users/",
        {"username": "dora", "email": "dora@example.com", "password": "a-long-pass-phrase"},
        format="json",
    )
    assert_problem(response, 503, "owner_moving")
    assert_problem(
        customer_client.patch("/api/v1/users/me", {"first_name": "C"}, format="json"),
        503,
        "owner_moving",
    )
    assert customer_client.get("/api/v1/users/me").status_code == 200  # reads stay


def test_storefront_session_login_works_for_an_account_made_by_the_users_service():
    # given: the users service owns accounts; dora registered there, then changed her password
    ownership_set("user", "users")
    created = UserCreatedV1(
        user_id=501,
        username="dora",
        email="dora@example.com",
        first_name="",
        last_name="",
        is_staff=False,
        is_active=True,
        date_joined="2026-01-01T00:00:00+00:00",
    )
    InboxProcessor(get_consumer("monolith.users")).process(
        [
            envelope(created, 1),
            envelope(UserPasswordChangedV1(user_id=501, password_hash=make_password(PASSWORD)), 2),
        ]
    )
    # then: Django's session login on the storefront authenticates against the mirrored hash
    browser = storefront_login("dora", PASSWORD)
    assert browser.logged_in
    assert browser.get("/my/orders/").status_code == 200
    # and a password change made in the service reaches the storefront
    InboxProcessor(get_consumer("monolith.users")).process(
        [
            envelope(
                UserPasswordChangedV1(user_id=501, password_hash=make_password("new-pass-9x")), 3
            )
        ]
    )
    assert not storefront_login("dora", PASSWORD).logged_in
    assert storefront_login("dora", "new-pass-9x").logged_in


def test_a_token_signed_before_the_key_ring_existed_keeps_working(settings, customer):
    # given: the monolith's key from before the ring, and a token it signed
    legacy_pem = generate_private_pem()
    legacy_path = settings.SERVICEKIT_JWT["PRIVATE_KEY_PATH"]
    Path(legacy_path).parent.mkdir(parents=True)
    Path(legacy_path).write_bytes(legacy_pem)
    legacy = SigningKey.from_pem(legacy_pem)
    old_token = token_issue(
        key=legacy,
        policy=token_policy(),
        subject=str(customer.pk),
        token_type=ACCESS,
        claims={"username": customer.username, "is_staff": False},
    )
    # when: the ring starts from it, and the users service rotates it
    assert signing_key().kid == legacy.kid
    key_ring().rotate(lifetime=max_token_lifetime())
    # then: new tokens carry the new key, both keys are published, the old token still works
    fresh = bearer_client(customer)
    assert fresh.get("/api/v1/users/me").status_code == 200
    kid = jwt.get_unverified_header(fresh._credentials["HTTP_AUTHORIZATION"].split()[1])["kid"]
    assert kid == signing_key().kid != legacy.kid
    published = {k["kid"] for k in fresh.get("/.well-known/jwks.json").json()["keys"]}
    assert published == {legacy.kid, kid}
    old = Client(HTTP_AUTHORIZATION=f"Bearer {old_token}")
    assert old.get("/api/v1/users/me").status_code == 200
    # and once retired, the old key is refused
    key_ring().retire(force=True)
    assert old.get("/api/v1/users/me").status_code == 401
