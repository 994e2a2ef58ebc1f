"""The Cloud Run function under the real functions-framework server: CloudEvents in binary and
structured mode, as Eventarc pushes a Pub/Sub message; the email once; 400 and 503 outcomes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import urllib3

from tests.functions.builders import customer_json, placed_json
from tests.support.processes import free_port, stop_process
from tests.support.wait import wait_port

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORK = str(Path(sys.executable).with_name("functions-framework"))
TOPIC = "projects/shop-prod/topics/order-events"


def framework_command(port: int) -> list[str]:
    """How the Cloud Run functions Python runtime serves the function (and so does `make test`)."""
    return [
        FRAMEWORK,
        "--source",
        "functions/order_email/gcp.py",
        "--target",
        "order_email",
        "--signature-type",
        "cloudevent",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


@pytest.fixture
def function_url(function_env, tmp_path):
    port = free_port()
    log = (tmp_path / "functions-framework.log").open("wb")
    process = subprocess.Popen(
        framework_command(port),
        cwd=ROOT,
        env={**os.environ, **function_env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_port("127.0.0.1", port, timeout=60)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop_process(process)
        log.close()


def pubsub_data(envelope_json: str | bytes, *, message_id: str) -> dict:
    """`google.cloud.pubsub.topic.v1.messagePublished` data: the Pub/Sub message, base64."""
    raw = envelope_json.encode() if isinstance(envelope_json, str) else envelope_json
    return {
        "message": {
            "data": base64.b64encode(raw).decode(),
            "messageId": message_id,
            "publishTime": "2026-12-02T12:00:00.000Z",
            "attributes": {"event_type": "orders.order_placed.v1"},
        },
        "subscription": "projects/shop-prod/subscriptions/eventarc-order-email-sub",
    }


def post_binary(url: str, envelope_json: str | bytes, *, message_id: str | None = None):
    """Binary mode, as Eventarc delivers: ce-* headers, the Pub/Sub message as the body."""
    message_id = message_id or uuid.uuid4().hex
    return urllib3.request(
        "POST",
        url,
        body=json.dumps(pubsub_data(envelope_json, message_id=message_id)).encode(),
        headers={
            "Content-Type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": message_id,
            "ce-source": f"//pubsub.googleapis.com/{TOPIC}",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
            "ce-time": "2026-12-02T12:00:00.000Z",
        },
        timeout=30,
        retries=False,
    )


def post_structured(url: str, envelope_json: str):
    """Structured mode: the whole CloudEvent as JSON, its data the envelope itself."""
    event = json.loads(envelope_json)
    cloud_event = {
        "specversion": "1.0",
        "id": event["event_id"],
        "source": f"//strangler/{event['origin']}",
        "type": f"strangler.{event['event_type']}",
        "datacontenttype": "application/json",
        "data": event,
    }
    return urllib3.request(
        "POST",
        url,
        body=json.dumps(cloud_event).encode(),
        headers={"Content-Type": "application/cloudevents+json"},
        timeout=30,
        retries=False,
    )


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
