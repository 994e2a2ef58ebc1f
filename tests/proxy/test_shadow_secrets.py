"""Shadow differences and captures keep no secret, are private files, and skip credential routes."""

from __future__ import annotations

import json
import os
import stat

import pytest

from strangler_proxy.routes.load import parse_table
from strangler_proxy.routes.model import RouteTableError
from strangler_proxy.shadow.capture import captured_request
from strangler_proxy.shadow.compare import Answer, compare, excerpt
from tests.proxy.conftest import ADMIN_TOKEN, routes_yaml, upstream_spec
from tests.support.wait import wait_for

JWT_A = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLWE"
JWT_B = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIyIn0.c2lnbmF0dXJlLWI"
SECRETS = (JWT_A, JWT_B, "pbkdf2_sha256$a1", "pbkdf2_sha256$b2", "tok-in-query", "key-in-query")


def _answering(access: str, password_hash: str):
    body = json.dumps({"access": access, "user": {"password_hash": password_hash, "name": "a"}})
    return lambda handler, record: (200, body.encode())


def test_differences_and_captures_hold_no_secret_and_are_private(
    make_proxy, start_upstream, tmp_path
):
    # given a shadowed route whose two sides answer with different tokens and hashes
    monolith = start_upstream("monolith", _answering(JWT_A, "pbkdf2_sha256$a1"))
    candidate = start_upstream("candidate", _answering(JWT_B, "pbkdf2_sha256$b2"))
    diffs_file, capture_file = tmp_path / "shadow-diffs.jsonl", tmp_path / "capture.jsonl"
    client = make_proxy(
        routes_yaml(
            {"monolith": upstream_spec(monolith.url), "candidate": upstream_spec(candidate.url)},
            [{"name": "me", "prefix": "/api/me", "mode": "shadow", "upstream": "candidate"}],
        ),
        SHADOW_DIFFS_FILE=str(diffs_file),
        CAPTURE_FILE=str(capture_file),
    )
    # when a request carries secrets in its query
    client.get("/api/me?access_token=tok-in-query&apikey=key-in-query&page=2")
    admin = {"HTTP_AUTHORIZATION": f"Bearer {ADMIN_TOKEN}"}
    wait_for(
        lambda: client.get("/_strangler/shadow", **admin).json()["recent_differences"],
        timeout=10,
        interval=0.02,
        what="the recorded difference",
    )
    served = client.get("/_strangler/shadow", **admin).content.decode()
    # then the difference is recorded, but no secret is in the store, the files or the API
    assert "access: differs (value redacted)" in served
    assert "user.password_hash: differs (value redacted)" in served
    assert "page=2" in served
    for text in (served, diffs_file.read_text(), capture_file.read_text()):
        for secret in SECRETS:
            assert secret not in text
    for path in (diffs_file, capture_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_the_capture_redacts_query_and_body_by_the_logs_rules():
    record = captured_request(
        route="pay",
        method="GET",
        target="/pay?access_token=t1&apikey=k1&page=2",
        headers=[("Authorization", f"Bearer {JWT_A}"), ("Content-Type", "application/json")],
        body=json.dumps(
            {"pin": "1234", "cvv": "999", "pwd": "p4ss", "shipping": "home", "cardPin": "1"}
        ).encode(),
    )
    assert record["query"] == {"access_token": "REDACTED", "apikey": "REDACTED", "page": "2"}
    assert record["body"] == {
        "pin": "REDACTED",
        "cvv": "REDACTED",
        "pwd": "REDACTED",
        "shipping": "home",
        "cardPin": "REDACTED",
    }


def test_compare_and_excerpt_never_show_a_secret_value():
    primary = Answer(200, {"content-type": "application/json"}, b'{"refresh": "r-1", "n": 1}')
    candidate = Answer(200, {"content-type": "application/json"}, b'{"refresh": "r-2", "n": 2}')
    diffs = compare(primary, candidate)
    assert diffs == ["n: 1 != 2", "refresh: differs (value redacted)"]
    assert "r-1" not in json.dumps(excerpt(primary))


def test_a_sensitive_route_is_never_shadowed():
    auth = dict(name="auth", prefix="/api/v1/auth/", upstream="users", sensitive=True)
    upstreams = {"monolith": upstream_spec("http://m:1"), "users": upstream_spec("http://u:1")}
    assert parse_table(routes_yaml(upstreams, [auth])).route("auth").sensitive
    with pytest.raises(RouteTableError, match=r"routes\[0\]\.mode: a sensitive route"):
        parse_table(routes_yaml(upstreams, [{**auth, "mode": "shadow"}]), source="routes.yaml")


def test_the_shipped_token_route_is_sensitive():
    from strangler_proxy.routes.file import TEMPLATE

    table = parse_table(TEMPLATE.read_text(), environ={})
    assert table.route("auth").sensitive
