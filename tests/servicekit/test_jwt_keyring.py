"""Key rotation: two keys published at once, old tokens accepted until they expire, then the
old key retired; every process sharing the ring follows without a restart."""

from __future__ import annotations

import time

import pytest

from servicekit.web.jwt.keyring import KeyRing
from servicekit.web.jwt.keys import SigningKey, generate_private_pem, jwks_document
from servicekit.web.jwt.tokens import ACCESS, TokenError, TokenPolicy, token_decode, token_issue

POLICY = TokenPolicy(issuer="strangler-users", audience="strangler")
LIFETIME = 3600


def issue(key: SigningKey) -> str:
    return token_issue(key=key, policy=POLICY, subject="1", token_type=ACCESS)


def verify(ring: KeyRing, token: str) -> dict:
    return token_decode(token, policy=POLICY, key_for_kid=ring.state().resolver)


def test_rotation_publishes_both_keys_and_accepts_old_tokens_until_retired(tmp_path):
    ring = KeyRing(tmp_path)
    ring.ensure(seed_pem=None, lifetime=LIFETIME)
    old_key = ring.state().active
    old_token = issue(old_key)
    now = time.time()

    # when: rotated
    old_kid, new_kid = ring.rotate(lifetime=LIFETIME, now=now)

    # then: the new key signs, both are published, the old token still verifies
    state = ring.state()
    assert (old_kid, state.active.kid) == (old_key.kid, new_kid) and old_kid != new_kid
    assert [k["kid"] for k in jwks_document(list(state.keys))["keys"]] == [new_kid, old_kid]
    assert verify(ring, old_token)["sub"] == "1"
    assert verify(ring, issue(state.active))["sub"] == "1"

    # retiring before the old key's tokens can have expired changes nothing
    assert ring.retire(now=now + LIFETIME - 1) == []
    assert verify(ring, old_token)

    # when the longest token lifetime has passed, the old key goes
    assert ring.retire(now=now + LIFETIME) == [old_kid]
    assert [k.kid for k in ring.state().keys] == [new_kid]
    assert not (tmp_path / f"{old_kid}.pem").exists()
    with pytest.raises(TokenError, match="unknown signing key"):
        verify(ring, old_token)


def test_another_process_sees_a_rotation_at_once(tmp_path):
    writer, reader = KeyRing(tmp_path), KeyRing(tmp_path)
    writer.ensure(seed_pem=None, lifetime=LIFETIME)
    first = reader.state().active.kid
    _, second = writer.rotate(lifetime=LIFETIME)
    _, third = writer.rotate(lifetime=LIFETIME)  # two rotations inside one clock tick
    assert reader.state().active.kid == third
    assert {k.kid for k in reader.state().keys} == {first, second, third}


def test_an_empty_ring_starts_with_the_configured_key(tmp_path):
    pem = generate_private_pem()
    ring = KeyRing(tmp_path)
    ring.ensure(seed_pem=pem, lifetime=LIFETIME)
    assert ring.state().active.kid == SigningKey.from_pem(pem).kid
    ring.ensure(seed_pem=pem, lifetime=LIFETIME)  # idempotent
    assert len(ring.state().keys) == 1
    assert oct((tmp_path / f"{ring.state().active.kid}.pem").stat().st_mode & 0o777) == "0o600"


def test_a_key_made_before_the_ring_joins_it_as_previous_and_stays_retired(tmp_path):
    # given: another issuer started the ring first; the monolith still has its old key
    ring = KeyRing(tmp_path)
    ring.ensure(seed_pem=None, lifetime=LIFETIME)
    legacy_pem = generate_private_pem()
    legacy_token = issue(SigningKey.from_pem(legacy_pem))
    now = time.time()
    # when
    ring.ensure(seed_pem=legacy_pem, lifetime=LIFETIME, now=now)
    # then: its tokens verify; the active key is unchanged
    assert verify(ring, legacy_token)
    assert ring.state().active.kid != SigningKey.from_pem(legacy_pem).kid
    # once retired it does not come back on the next start
    ring.retire(now=now + LIFETIME)
    ring.ensure(seed_pem=legacy_pem, lifetime=LIFETIME)
    with pytest.raises(TokenError):
        verify(ring, legacy_token)


def test_forced_retirement_drops_every_previous_key(tmp_path):
    ring = KeyRing(tmp_path)
    ring.ensure(seed_pem=None, lifetime=LIFETIME)
    old, new = ring.rotate(lifetime=LIFETIME)
    assert ring.retire(force=True) == [old]
    assert [k.kid for k in ring.state().keys] == [new]
