"""The users service answers like the monolith, scenario by scenario (tests/parity/corpus_users.yaml).

The monolith is seeded with the demo data; the service is filled by its backfill command over
HTTP from the monolith's staff export (password hashes included: the demo passwords work on
both). Both share one key ring folder, so a token from either side verifies on both and the
JWKS documents are equal. For the writes each side owns `user` in its own run.
The service is also asked through the proxy, on both planes (tests/parity/planes.py): every
read directly, through the Python proxy and through nginx; every write once, through nginx.
"""

from __future__ import annotations

import pytest
import urllib3

from tests.parity.harness import load_corpus
from tests.parity.planes import Sides, assert_service_matches, planes
from tests.support import fleet

pytestmark = pytest.mark.integration

RULES, SCENARIOS = load_corpus("corpus_users.yaml")
# what the proxy sends to the service (strangler_proxy/routes.yaml); the rest to the monolith
PREFIXES = ("/.well-known/jwks.json", "/api/v1/auth/", "/api/v1/users/")
DEMO_PASSWORDS = {"alice": "alice-demo-pass", "staff": "staff-demo-pass"}


@pytest.fixture(scope="module")
def sides(tmp_path_factory):
    data = tmp_path_factory.mktemp("parity-users")
    (data / "monolith-owns.yaml").write_text("user: monolith\n")
    (data / "users-owns.yaml").write_text("user: users\n")
    with fleet.monolith(
        data,
        env={"OWNERSHIP_FILE": str(data / "monolith-owns.yaml")},
        setup=[["seed_demo"]],
    ) as monolith:
        service = fleet.users(
            data,  # the same data folder: the same key ring (<data>/jwt)
            env={
                "OWNERSHIP_FILE": str(data / "users-owns.yaml"),
                "BACKFILL_PASSWORD": DEMO_PASSWORDS["staff"],
            },
            setup=[["users_backfill", "--source", monolith.url, "--username", "staff"]],
        )
        with service, planes(data / "planes", monolith, service, PREFIXES) as through:
            http = urllib3.PoolManager()
            tokens = {}
            for user, password in DEMO_PASSWORDS.items():
                response = http.request(
                    "POST",
                    f"{service.url}/api/v1/auth/token",
                    json={"username": user, "password": password},
                )
                assert response.status == 200, response.data  # the copied hash works
                tokens[user] = response.json()["access"]
            yield Sides(monolith, service, tokens, http, through)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_users_service_matches_the_monolith(sides, scenario):
    left = assert_service_matches(sides, scenario, RULES[scenario.route], label="users")
    assert left.status < 500, left


def test_a_token_from_either_side_is_valid_on_both(sides):
    monolith, service, http = sides.monolith, sides.service, sides.http
    for issuer in (monolith, service):
        pair = http.request(
            "POST",
            f"{issuer.url}/api/v1/auth/token",
            json={"username": "alice", "password": DEMO_PASSWORDS["alice"]},
        ).json()
        for verifier in (monolith, service):
            me = http.request(
                "GET",
                f"{verifier.url}/api/v1/users/me",
                headers={"Authorization": f"Bearer {pair['access']}"},
            )
            assert me.status == 200 and me.json()["username"] == "alice"


def test_the_corpus_covers_every_identity_endpoint():
    covered = {(s.method, s.path.rstrip("0123456789")) for s in SCENARIOS}
    expected = {
        ("GET", "/api/v1/users/"),
        ("POST", "/api/v1/users/"),
        ("GET", "/api/v1/users/me"),
        ("PATCH", "/api/v1/users/me"),
        ("POST", "/api/v1/auth/token"),
        ("POST", "/api/v1/auth/token/refresh"),
        ("GET", "/.well-known/jwks.json"),
    }
    assert expected <= covered, expected - covered
