import jwt
import pytest
from django.urls import reverse

from monolith.users.models import User
from servicekit.events.outbox.models import OutboxMessage
from servicekit.web.jwt.conf import signing_key, token_policy
from servicekit.web.jwt.tokens import ACCESS, REFRESH, token_issue
from tests.monolith.factories import PASSWORD
from tests.support.shapes import assert_problem

pytestmark = pytest.mark.django_db


def register(client, **overrides):
    body = {"username": "dave", "email": "Dave@Example.com", "password": "a-long-passphrase"}
    body.update(overrides)
    return client.post("/api/v1/users/", body, format="json")


def test_register_creates_account_and_emits_user_created(anon_client):
    response = register(anon_client)

    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "dave"
    assert body["email"] == "dave@example.com"
    assert "password" not in body
    user = User.objects.get(username="dave")
    assert user.check_password("a-long-passphrase")
    event = OutboxMessage.objects.get(event_type="users.user_created.v1")
    assert event.aggregate_id == str(user.pk)


def test_register_refuses_taken_username_naming_the_field(anon_client, customer):
    body = assert_problem(
        register(anon_client, username=customer.username), 400, "validation_error"
    )
    assert [e["field"] for e in body["errors"]] == ["username"]


def test_register_refuses_weak_password_naming_the_field(anon_client):
    body = assert_problem(register(anon_client, password="12345678"), 400, "validation_error")
    assert {e["field"] for e in body["errors"]} == {"password"}
    assert not User.objects.filter(username="dave").exists()


def test_token_obtain_and_me(anon_client, customer):
    tokens = anon_client.post(
        "/api/v1/auth/token", {"username": customer.username, "password": PASSWORD}, format="json"
    ).json()
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")

    me = anon_client.get("/api/v1/users/me")

    assert me.status_code == 200
    assert me.json()["username"] == customer.username
    header = jwt.get_unverified_header(tokens["access"])
    assert header["alg"] == "RS256" and header["kid"] == signing_key().kid


def test_token_obtain_with_wrong_password_is_401(anon_client, customer):
    response = anon_client.post(
        "/api/v1/auth/token", {"username": customer.username, "password": "nope"}, format="json"
    )
    assert_problem(response, 401, "invalid_credentials")


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda user: "not-a-jwt", id="garbage"),
        pytest.param(
            lambda user: token_issue(
                key=signing_key(),
                policy=token_policy(),
                subject=str(user.pk),
                token_type=ACCESS,
                now=0,
            ),
            id="expired",
        ),
        pytest.param(
            lambda user: token_issue(
                key=signing_key(), policy=token_policy(), subject=str(user.pk), token_type=REFRESH
            ),
            id="refresh-used-as-access",
        ),
        pytest.param(
            lambda user: (
                token_issue(
                    key=signing_key(),
                    policy=token_policy(),
                    subject=str(user.pk),
                    token_type=ACCESS,
                )[:-4]
                + "AAAA"
            ),
            id="bad-signature",
        ),
    ],
)
def test_me_refuses_bad_tokens_with_401(anon_client, customer, make_token):
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(customer)}")
    response = anon_client.get("/api/v1/users/me")
    assert_problem(response, 401, "invalid_token")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_me_without_token_is_401_problem(anon_client):
    assert_problem(anon_client.get("/api/v1/users/me"), 401, "not_authenticated")


def test_refresh_gives_a_new_access_token(anon_client, customer):
    tokens = anon_client.post(
        "/api/v1/auth/token", {"username": customer.username, "password": PASSWORD}, format="json"
    ).json()
    response = anon_client.post(
        "/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json"
    )
    assert response.status_code == 200
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert anon_client.get("/api/v1/users/me").status_code == 200


def test_refresh_refuses_an_access_token(anon_client, customer):
    tokens = anon_client.post(
        "/api/v1/auth/token", {"username": customer.username, "password": PASSWORD}, format="json"
    ).json()
    response = anon_client.post(
        "/api/v1/auth/token/refresh", {"refresh": tokens["access"]}, format="json"
    )
    assert_problem(response, 401, "invalid_token")


def test_patch_me_updates_profile_and_emits_user_updated(customer_client, customer):
    response = customer_client.patch("/api/v1/users/me", {"first_name": "Carol"}, format="json")
    assert response.status_code == 200
    assert response.json()["first_name"] == "Carol"
    assert OutboxMessage.objects.filter(event_type="users.user_updated.v1").count() == 1


def test_patch_me_refuses_an_email_of_another_account(customer_client, staff):
    response = customer_client.patch(
        "/api/v1/users/me", {"email": staff.email.upper()}, format="json"
    )
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"][0]["field"] == "email"


def test_user_list_is_staff_only(customer_client, staff_client):
    assert_problem(customer_client.get("/api/v1/users/"), 403, "permission_denied")
    response = staff_client.get("/api/v1/users/")
    assert response.status_code == 200
    assert response.json()["count"] == 2


def test_jwks_publishes_the_key_that_verifies_issued_tokens(client, customer):
    jwks = client.get(reverse("jwks")).json()
    token = token_issue(
        key=signing_key(), policy=token_policy(), subject=str(customer.pk), token_type=ACCESS
    )
    [jwk] = [k for k in jwks["keys"] if k["kid"] == jwt.get_unverified_header(token)["kid"]]
    public = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
    claims = jwt.decode(token, public, algorithms=["RS256"], audience=token_policy().audience)
    assert claims["sub"] == str(customer.pk)
    assert "d" not in jwk  # never the private part
