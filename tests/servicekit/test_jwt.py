"""Tokens verified with keys from a JWKS URL: cached, refetched on an unknown kid, rotation-safe."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from servicekit.web.jwt.keys import SigningKey, generate_private_pem, jwks_document
from servicekit.web.jwt.tokens import (
    ACCESS,
    TokenError,
    TokenPolicy,
    VerifierUnavailable,
    token_decode,
    token_issue,
)
from servicekit.web.jwt.verifiers import JwksKeys, LocalKeys
from tests.support.wait import wait_for

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


@pytest.fixture
def gated_jwks():
    """A JWKS host whose answers wait for `gate` (set = answer at once) and can fail."""
    state = {"keys": [], "hits": 0, "fail": False, "gate": threading.Event()}
    state["gate"].set()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state["hits"] += 1
            state["gate"].wait(30)
            if state["fail"]:
                self.send_response(503)
                self.end_headers()
                return
            body = json.dumps(jwks_document(state["keys"])).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state, f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    finally:
        state["gate"].set()
        server.shutdown()


def test_a_stale_cache_keeps_serving_known_keys_while_one_refresh_hangs(gated_jwks):
    # given: a key cached, then the JWKS host hangs and the cache is past its age
    state, url = gated_jwks
    key = SigningKey.from_pem(generate_private_pem())
    state["keys"] = [key]
    keys = JwksKeys(url, max_age=0, min_refresh=0, timeout=20)
    assert keys(key.kid) is not None
    state["gate"].clear()
    # when: six concurrent checks of the known key
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(keys(key.kid))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    # then: all answered from the cache while the host still hangs, with one refresh in flight
    assert len(results) == 6 and all(r is not None for r in results)
    assert not state["gate"].is_set()
    wait_for(lambda: state["hits"] >= 2, timeout=10, what="the one background refresh")
    assert state["hits"] == 2
    state["gate"].set()


def test_concurrent_lookups_of_a_new_kid_share_one_fetch(gated_jwks):
    state, url = gated_jwks
    old, new = (SigningKey.from_pem(generate_private_pem()) for _ in range(2))
    state["keys"] = [old]
    keys = JwksKeys(url, min_refresh=0, timeout=20)
    keys(old.kid)
    state["keys"] = [old, new]
    state["gate"].clear()
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(keys(new.kid))) for _ in range(6)]
    for thread in threads:
        thread.start()
    state["gate"].set()
    for thread in threads:
        thread.join(10)
    assert len(results) == 6
    assert state["hits"] == 2  # one for the first key, one shared by the six


def test_a_failed_refresh_keeps_the_keys_and_is_not_retried_at_once(gated_jwks):
    state, url = gated_jwks
    key = SigningKey.from_pem(generate_private_pem())
    state["keys"] = [key]
    keys = JwksKeys(url, min_refresh=0, max_backoff=60)
    keys(key.kid)
    state["fail"] = True
    stranger = SigningKey.from_pem(generate_private_pem())
    with pytest.raises(LookupError, match="JWKS unavailable"):
        keys(stranger.kid)
    hits = state["hits"]
    for _ in range(5):  # remembered: no stampede on a failing host
        with pytest.raises(LookupError):
            keys(stranger.kid)
    assert state["hits"] == hits
    assert keys(key.kid) is not None  # the keys we had are kept


def test_a_new_kid_while_the_jwks_host_hangs_is_unavailable_not_an_invalid_token(gated_jwks):
    # given: a verifier that knows the old key; the host then hangs past the fetch's timeout
    state, url = gated_jwks
    old, new = (SigningKey.from_pem(generate_private_pem()) for _ in range(2))
    state["keys"] = [old]
    keys = JwksKeys(url, min_refresh=0, timeout=0.5)
    keys(old.kid)
    state["keys"] = [old, new]
    state["gate"].clear()
    token = token_issue(key=new, policy=POLICY, subject="1", token_type=ACCESS)
    # then: the token cannot be checked now, which is not the token's fault (a 503, not a 401)
    with pytest.raises(VerifierUnavailable):
        token_decode(token, policy=POLICY, key_for_kid=keys)
    # and once the host answers (after the failed fetch's backoff), the same token verifies
    state["gate"].set()

    def verifies() -> bool:
        try:
            return token_decode(token, policy=POLICY, key_for_kid=keys)["sub"] == "1"
        except VerifierUnavailable:
            return False

    wait_for(verifies, timeout=30, what="the token to verify once the key set is back")


def test_a_kid_the_key_set_does_not_have_is_still_an_invalid_token(jwks_server):
    state, url = jwks_server
    known, stranger = (SigningKey.from_pem(generate_private_pem()) for _ in range(2))
    state["keys"] = [known]
    token = token_issue(key=stranger, policy=POLICY, subject="1", token_type=ACCESS)
    with pytest.raises(TokenError, match="unknown signing key"):
        token_decode(token, policy=POLICY, key_for_kid=JwksKeys(url, min_refresh=0))


def test_a_rotation_just_after_a_refresh_is_a_retry_not_an_invalid_token(jwks_server):
    # given: a verifier that read the key set a moment ago (a periodic refresh or another
    # kid's lookup), so it may not read it again for a while
    state, url = jwks_server
    old, new = (SigningKey.from_pem(generate_private_pem()) for _ in range(2))
    state["keys"] = [old]
    keys = JwksKeys(url, min_refresh=60)
    keys(old.kid)
    # when: the issuer rotates and a client brings a token signed by the new key at once
    state["keys"] = [new, old]
    token = token_issue(key=new, policy=POLICY, subject="1", token_type=ACCESS)
    # then: the token is not called invalid (a correct client would throw it away): 503, retry
    # when the verifier may read the set again
    with pytest.raises(VerifierUnavailable) as caught:
        token_decode(token, policy=POLICY, key_for_kid=keys)
    assert 1 <= caught.value.retry_after <= 60
    assert state["hits"] == 1  # and the throttle held: no extra fetch
    # and once a read is allowed, the same token verifies
    keys.min_refresh = 0
    assert token_decode(token, policy=POLICY, key_for_kid=keys)["sub"] == "1"


def test_an_unknown_kid_on_a_token_older_than_the_key_set_is_refused_at_once(jwks_server):
    # given: the same throttled verifier; a token from a key that was never published (or was
    # retired), issued an hour before the set was read
    state, url = jwks_server
    known, stranger = (SigningKey.from_pem(generate_private_pem()) for _ in range(2))
    state["keys"] = [known]
    keys = JwksKeys(url, min_refresh=60)
    keys(known.kid)
    long_lived = TokenPolicy(issuer=POLICY.issuer, audience=POLICY.audience, access_ttl=7200)
    token = token_issue(
        key=stranger,
        policy=long_lived,
        subject="1",
        token_type=ACCESS,
        now=time.time() - 3600,
    )
    # then: its key would be in any set read after it was issued: a 401, not a retry
    with pytest.raises(TokenError, match="unknown signing key"):
        token_decode(token, policy=POLICY, key_for_kid=keys)


def test_a_service_answers_503_with_retry_after_when_it_cannot_check_a_token(monkeypatch):
    from rest_framework.permissions import IsAuthenticated
    from rest_framework.response import Response
    from rest_framework.test import APIRequestFactory
    from rest_framework.views import APIView

    from servicekit.web.jwt import authentication
    from servicekit.web.jwt.tokens import KeySetUnavailable

    def unreachable(kid):
        raise KeySetUnavailable(f"{kid} (JWKS unavailable: connection refused)")

    monkeypatch.setattr(authentication, "key_resolver", lambda: unreachable)

    class Mine(APIView):
        authentication_classes = [authentication.JWTAuthentication]
        permission_classes = [IsAuthenticated]

        def get(self, request):
            return Response({"ok": True})

    key = SigningKey.from_pem(generate_private_pem())
    token = token_issue(key=key, policy=POLICY, subject="1", token_type=ACCESS)
    request = APIRequestFactory().get("/mine", HTTP_AUTHORIZATION=f"Bearer {token}")
    response = Mine.as_view()(request)
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert response.data["code"] == "verifier_unavailable"
