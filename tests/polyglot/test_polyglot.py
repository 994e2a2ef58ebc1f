"""Every implementation of the catalog's product reads answers exactly like the Python catalog
service on the same events (issue 19): same bytes but for the clocks, events applied once and in
order, health, readiness and metrics."""

from __future__ import annotations

import re
import time

import pytest

from servicekit.web.jwt.keys import SigningKey, generate_private_pem
from tests.polyglot.corpus import READS, feed
from tests.polyglot.implementations import IMPLEMENTATIONS
from tests.polyglot.world import NotYet, token_for
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

NAMES = list(IMPLEMENTATIONS)
# Each service stamps rows when it applies them: the shape is compared, not the clock.
STAMPS = re.compile(rb'"(created_at|updated_at)":"[^"]*"')


def _answer(shared, name: str, read):
    # Through the proxy routing to `name`; one Host for all, so page links are comparable.
    headers = {"X-Request-ID": "polyglot-" + re.sub(r"\W+", "-", read.name), "Host": "localhost"}
    if read.user:
        headers["Authorization"] = f"Bearer {shared.tokens[read.user]}"
    if read.authorization:
        headers["Authorization"] = read.authorization
    response = shared.get(name, read.path, read.query, headers)
    body = STAMPS.sub(rb'"\1":"<stamp>"', response.data)
    return response.status, response.headers.get("Content-Type"), body


@pytest.mark.parametrize("read", READS, ids=[r.name for r in READS])
@pytest.mark.parametrize("name", NAMES)
def test_reads_answer_byte_for_byte_like_python(shared, name, read):
    expected = _answer(shared, "python", read)
    actual = _answer(shared, name, read)
    assert expected[0] < 500, expected
    assert actual == expected


def test_the_reads_cover_pages_filters_errors_and_tokens(shared):
    statuses = {_answer(shared, "python", read)[0] for read in READS}
    assert statuses == {200, 400, 401, 404}


@pytest.mark.parametrize("name", ["python", *NAMES])
def test_duplicates_and_reorders_are_applied_once_in_order(shared, name):
    staff = {"Authorization": f"Bearer {shared.tokens['staff']}"}
    # The creation came again after the stock changed: applying it twice would put 5 back.
    duplicated = shared.get(name, "/api/v1/products/DUP-0001/", headers=staff).json()
    assert duplicated["stock"] == {"available": 7, "in_stock": True}
    # The update and the last price change arrived before the creation and the first change.
    reordered = shared.get(name, "/api/v1/products/ORD-0001/", headers=staff).json()
    assert (reordered["name"], reordered["price"]) == ("Reordered", "30.00")
    if name == "python":
        return  # its inbox's counts are servicekit's (tests/events), in its consumer process
    # Every delivery's outcome as an inbox that applies each event once makes of it: a
    # duplicate applied again (its side effects twice) is counted applied, parked again, or
    # rejected by a key that refuses it (the end state above can hide it: upserts, absolute
    # stock levels, a primary key on the processed ids).
    expected = {**dict(feed().outcomes()), "rejected": 0}

    def counted() -> bool:
        actual = _outcomes(shared.get(name, "/metrics", direct=True).data.decode())
        if {outcome: actual.get(outcome, 0) for outcome in expected} != expected:
            raise NotYet(f"{name}: {actual}, expected {expected}")
        return True

    # (the counters move just after the commit that made the last event visible)
    wait_for(counted, timeout=10, interval=0.1, what=f"{name}'s inbox counts", ignore=(NotYet,))


def _outcomes(metrics: str) -> dict[str, int]:
    found = re.findall(r'^inbox_events_total\{outcome="(\w+)"\} (\S+)$', metrics, re.MULTILINE)
    return {outcome: int(float(value)) for outcome, value in found}


@pytest.mark.parametrize("name", NAMES)
def test_health_readiness_and_metrics(shared, name):
    health = shared.get(name, "/healthz", direct=True)
    assert (health.status, health.json()) == (200, {"status": "ok"})
    ready = shared.get(name, "/readyz", direct=True)
    assert ready.status == 200
    assert ready.json()["status"] == "ready"
    assert {"database", "broker"} <= set(ready.json()["checks"])
    metrics = shared.get(name, "/metrics", direct=True)
    assert metrics.status == 200
    text = metrics.data.decode()
    assert "# TYPE http_requests_total counter" in text
    assert re.search(r'http_requests_total\{[^}]*route="detail"[^}]*\} [1-9]', text), text[:2000]
    assert re.search(r'inbox_events_total\{outcome="duplicate"\} [1-9]', text)
    assert re.search(r'inbox_events_total\{outcome="parked"\} [1-9]', text)


def test_a_rotation_just_after_a_refresh_is_a_retry_not_an_invalid_token(shared):
    # As servicekit's JwksKeys (tests/servicekit/test_jwt.py): a kid missing from a key set read
    # before the lookup began, on a token issued after that read, may be a key published since.
    path, answers, outcomes = "/api/v1/products/", {}, {}
    stranger = token_for(SigningKey.from_pem(generate_private_pem()))  # a key never published
    for name in ["python", *NAMES]:
        # given: the service has just read the key set (its own read, for the stranger's kid,
        # is what proves that kid unknown: a 401; a read too recent to repeat is a 503 first)
        def read_now(name=name) -> bool:
            answer = shared.get(name, path, headers=_bearer(stranger), direct=True)
            if answer.status != 401:
                raise NotYet(f"{name}: {answer.status} {answer.data[:300]!r}")
            return True

        # (10 s at most; 25 s allow one failed read under load and its 10 s backoff)
        wait_for(
            read_now, timeout=25, interval=0.25, what=f"{name} to read the keys", ignore=(NotYet,)
        )
        # when: the issuer rotates and a client brings a token signed by the new key at once
        token = token_for(shared.rotate())
        answer = shared.get(name, path, headers=_bearer(token), direct=True)
        outcomes[name] = (answer.status, answer.json().get("code"))
        retry_after = int(answer.headers.get("Retry-After", 0))
        answers[name] = (token, time.monotonic() + retry_after)
        assert answer.status != 503 or 1 <= retry_after <= 60, (name, retry_after)
    # then: not called invalid (a correct client would throw the token away): 503, retry
    assert outcomes == {name: (503, "verifier_unavailable") for name in outcomes}
    # and once each may read the set again, the same token verifies
    for name, (token, allowed_at) in answers.items():

        def accepted(name=name, token=token) -> bool:
            answer = shared.get(name, path, headers=_bearer(token), direct=True)
            if answer.status != 200:
                raise NotYet(f"{name}: {answer.status} {answer.data[:300]!r}")
            return True

        # (a few seconds after Retry-After; 10 s more allow one failed read under load)
        wait_for(
            accepted,
            timeout=max(0.0, allowed_at - time.monotonic()) + 15,
            interval=0.25,
            what=f"{name} to accept the new key once it may read the set again",
            ignore=(NotYet,),
        )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
