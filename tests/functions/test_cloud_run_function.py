"""The Cloud Run function under the real functions-framework server: CloudEvents in binary and
structured mode, as Eventarc pushes a Pub/Sub message; the email once; 400 and 503 outcomes."""

from __future__ import annotations

import json

import pytest
import urllib3

from tests.functions.builders import customer_json, placed_json
from tests.functions.cloud_events import TOPIC, framework_serving, post_binary, post_structured


@pytest.fixture
def function_url(function_env, tmp_path):
    with framework_serving(function_env, tmp_path / "functions-framework.log") as url:
        yield url


def test_a_pubsub_cloud_event_emails_once_and_a_redelivery_does_not(function_url, sink):
    assert post_binary(function_url, customer_json()).status == 200
    event_id, placed = placed_json(21)

    first = post_binary(function_url, placed, message_id="4711")
    redelivered = post_binary(function_url, placed, message_id="4711")

    assert (first.status, redelivered.status) == (200, 200)
    [message] = sink.received()
    assert (message["Subject"], message["To"]) == ("Order 21 placed", "carol@example.com")
    assert message["Message-ID"] == f"<{event_id}@order-email.strangler>"


def test_a_structured_cloud_event_carrying_the_envelope_emails(function_url, sink):
    assert post_structured(function_url, customer_json()).status == 200
    _, placed = placed_json(22)

    assert post_structured(function_url, placed).status == 200
    assert post_structured(function_url, placed).status == 200

    assert [m["Subject"] for m in sink.received()] == ["Order 22 placed"]


def test_an_event_breaking_the_contract_is_a_400_problem_naming_it(function_url, sink):
    broken = json.loads(placed_json(23)[1])
    del broken["payload"]["customer_id"]

    response = post_binary(function_url, json.dumps(broken))

    assert response.status == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "invalid event"
    assert "customer_id" in problem["detail"]
    assert sink.received() == []


def test_a_message_that_is_not_base64_is_a_400(function_url):
    response = urllib3.request(
        "POST",
        function_url,
        body=json.dumps({"message": {"data": "%%% not base64"}}).encode(),
        headers={
            "Content-Type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": "1",
            "ce-source": f"//pubsub.googleapis.com/{TOPIC}",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        },
        retries=False,
    )
    assert response.status == 400
    assert "base64" in response.json()["detail"]


def test_an_unknown_customer_is_a_503_the_trigger_retries(function_url, sink):
    _, placed = placed_json(24)

    response = post_binary(function_url, placed)

    assert response.status == 503
    assert "not in the directory yet" in response.json()["detail"]
    # the retry, after the users stream named the customer
    assert post_binary(function_url, customer_json()).status == 200
    assert post_binary(function_url, placed).status == 200
    assert [m["Subject"] for m in sink.received()] == ["Order 24 placed"]


def test_a_request_that_is_not_a_cloud_event_is_a_400(function_url, sink):
    response = urllib3.request(
        "POST",
        function_url,
        body=placed_json(25)[1].encode(),
        retries=False,
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 400
    assert sink.received() == []
