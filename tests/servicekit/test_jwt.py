"""Tokens verified with keys from a JWKS URL: cached, refetched on an unknown kid, rotation-safe."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from servicekit.web.jwt.keys import SigningKey, generate_private_pem, jwks_document
from servicekit.web.jwt.tokens import ACCESS, TokenError, TokenPolicy, token_decode, token_issue
from servicekit.web.jwt.verifiers import JwksKeys, LocalKeys

POLICY = TokenPolicy(issuer="test-issuer", audience="test")


@pytest.fixture
def jwks_server():
    state = {"keys": [], "hits": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state["hits"] += 1
            body = json.dumps(jwks_document(state["keys"])).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    finally:
        server.shutdown()


def test_jwks_keys_are_cached_and_refetched_for_a_new_kid(jwks_server):
    state, url = jwks_server
    old, new = (
        SigningKey.from_pem(generate_private_pem()),
        SigningKey.from_pem(generate_private_pem()),
    )
    state["keys"] = [old]
    keys = JwksKeys(url, min_refresh=0)

    for _ in range(3):
        claims = token_decode(
            token_issue(key=old, policy=POLICY, subject="7", token_type=ACCESS),
            policy=POLICY,
            key_for_kid=keys,
        )
    assert claims["sub"] == "7"
    assert state["hits"] == 1  # cached

    state["keys"] = [new, old]  # rotation: both published
    token_decode(
        token_issue(key=new, policy=POLICY, subject="7", token_type=ACCESS),
        policy=POLICY,
        key_for_kid=keys,
    )
    token_decode(
        token_issue(key=old, policy=POLICY, subject="7", token_type=ACCESS),
        policy=POLICY,
        key_for_kid=keys,
    )
    assert state["hits"] == 2


def test_a_token_from_an_unknown_key_is_refused(jwks_server):
    state, url = jwks_server
    state["keys"] = [SigningKey.from_pem(generate_private_pem())]
    stranger = SigningKey.from_pem(generate_private_pem())
    with pytest.raises(TokenError, match="unknown signing key"):
        token_decode(
            token_issue(key=stranger, policy=POLICY, subject="1", token_type=ACCESS),
            policy=POLICY,
            key_for_kid=JwksKeys(url, min_refresh=0),
        )


def test_wrong_audience_and_hs256_are_refused():
    key = SigningKey.from_pem(generate_private_pem())
    token = token_issue(
        key=key,
        policy=TokenPolicy(issuer="test-issuer", audience="other"),
        subject="1",
        token_type=ACCESS,
    )
    with pytest.raises(TokenError):
        token_decode(token, policy=POLICY, key_for_kid=LocalKeys([key]))
    import jwt

    forged = jwt.encode({"sub": "1"}, "secret", algorithm="HS256", headers={"kid": key.kid})
    with pytest.raises(TokenError, match="RS256"):
        token_decode(forged, policy=POLICY, key_for_kid=LocalKeys([key]))
