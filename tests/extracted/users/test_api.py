"""The users service's API: the monolith's paths and shapes, refused while it does not own
accounts, tokens signed with the shared key ring."""

from __future__ import annotations

import jwt
import pytest

from extracted.users.accounts import services
from servicekit.events.outbox.models import OutboxMessage
from servicekit.web.jwt.conf import signing_key
from tests.extracted.users.builders import PASSWORD, login
from tests.support.shapes import assert_problem
from tests.support.tokens import bearer

pytestmark = pytest.mark.django_db

REGISTRATION = {"username": "dora", "email": "Dora@Example.com", "password": PASSWORD}


def test_register_then_log_in_and_read_the_profile(api, users_owned):
    # when
    created = api.post("/api/v1/users/", REGISTRATION, format="json")
    # then
    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) == {
        "id",
        "username",
        "email",
        "first_name",
        "last_name",
        "is_staff",
        "date_joined",
    }
    assert body["email"] == "dora@example.com" and "password" not in created.content.decode()
    types = list(OutboxMessage.objects.order_by("id").values_list("event_type", flat=True))
    assert types == ["users.user_created.v1", "users.password_changed.v1"]
    pair = login(api, "dora")
    assert jwt.get_unverified_header(pair["access"])["kid"] == signing_key().kid
    me = bearer(pair["access"]).get("/api/v1/users/me")
    assert me.status_code == 200 and me.json()["id"] == body["id"]


def test_registration_is_refused_while_the_monolith_owns_accounts(api):
    response = api.post("/api/v1/users/", REGISTRATION, format="json")
    assert_problem(response, 503, "owner_moving")
    assert not OutboxMessage.objects.exists()


def test_registration_errors_are_field_errors(api, users_owned):
    services.user_register(username="dora", email="dora@example.com", password=PASSWORD)
    response = api.post(
        "/api/v1/users/", {"username": "Dora", "email": "x", "password": "123"}, format="json"
    )
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"username", "email", "password"} <= fields


def test_profile_update_emits_an_event(api, users_owned):
    user = services.user_register(username="dora", email="dora@example.com", password=PASSWORD)
    client = bearer(login(api, "dora")["access"])
    response = client.patch("/api/v1/users/me", {"first_name": "Dora"}, format="json")
    assert response.status_code == 200 and response.json()["first_name"] == "Dora"
    assert OutboxMessage.objects.filter(
        event_type="users.user_updated.v1", aggregate_id=str(user.pk)
    ).exists()


def test_staff_list_and_detail_are_staff_only(api, users_owned):
    staff = services.user_register(
        username="boss", email="boss@example.com", password=PASSWORD, is_staff=True
    )
    customer = services.user_register(username="dora", email="dora@example.com", password=PASSWORD)
    as_staff = bearer(login(api, "boss")["access"])
    as_customer = bearer(login(api, "dora")["access"])
    listing = as_staff.get("/api/v1/users/")
    assert listing.status_code == 200
    assert [u["id"] for u in listing.json()["results"]] == [staff.pk, customer.pk]
    assert as_staff.get(f"/api/v1/users/{customer.pk}").json()["username"] == "dora"
    assert as_customer.get("/api/v1/users/").status_code == 403
    assert api.get("/api/v1/users/").status_code == 401


def test_token_errors(api, users_owned):
    services.user_register(username="dora", email="dora@example.com", password=PASSWORD)
    wrong = api.post(
        "/api/v1/auth/token", {"username": "dora", "password": "nope-nope"}, format="json"
    )
    assert_problem(wrong, 401, "invalid_credentials")
    pair = login(api, "dora")
    refreshed = api.post("/api/v1/auth/token/refresh", {"refresh": pair["refresh"]}, format="json")
    assert refreshed.status_code == 200 and set(refreshed.json()) == {"access"}
    misuse = api.post("/api/v1/auth/token/refresh", {"refresh": pair["access"]}, format="json")
    assert_problem(misuse, 401, "invalid_token")


def test_jwks_publishes_the_active_key(api):
    document = api.get("/.well-known/jwks.json").json()
    assert [k["kid"] for k in document["keys"]] == [signing_key().kid]
    assert all("d" not in key for key in document["keys"])  # public halves only


def test_export_is_staff_only_and_carries_hashes_and_sequences(api, users_owned):
    staff = services.user_register(
        username="boss", email="boss@example.com", password=PASSWORD, is_staff=True
    )
    services.user_register(username="dora", email="dora@example.com", password=PASSWORD)
    assert bearer(login(api, "dora")["access"]).get("/api/v1/users/export/").status_code == 403
    page = bearer(login(api, "boss")["access"]).get("/api/v1/users/export/?limit=1").json()
    assert page["next_after"] == str(staff.pk)
    (row,) = page["users"]
    assert row["id"] == staff.pk and row["sequence"] == 2  # created + password_changed
    assert row["password_hash"].startswith("md5$")
