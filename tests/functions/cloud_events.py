"""Serving the Cloud Run function with the real functions-framework, and the CloudEvents
Eventarc would push to it (binary mode for a Pub/Sub message, structured mode for an envelope).
Shared by the tests and `benchmarks/bench_function_cold_start.py`."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import urllib3

from tests.support.processes import free_port, stop_process
from tests.support.wait import wait_port

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORK = str(Path(sys.executable).with_name("functions-framework"))
TOPIC = "projects/shop-prod/topics/order-events"


def framework_command(port: int, *, source: str = "functions/order_email/gcp.py") -> list[str]:
    """How the Cloud Run functions Python runtime serves the function (and so does `make test`)."""
    return [
        FRAMEWORK,
        "--source",
        source,
        "--target",
        "order_email",
        "--signature-type",
        "cloudevent",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


@contextlib.contextmanager
def framework_serving(
    env: dict[str, str],
    log_path: Path,
    *,
    cwd: Path = ROOT,
    source: str = "functions/order_email/gcp.py",
) -> Iterator[str]:
    """functions-framework serving `source` from `cwd` on a free port; yields its URL."""
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            framework_command(port, source=source),
            cwd=cwd,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_port("127.0.0.1", port, timeout=60)
            yield f"http://127.0.0.1:{port}/"
        finally:
            stop_process(process)


def pubsub_data(envelope_json: str | bytes, *, message_id: str) -> dict:
    """`google.cloud.pubsub.topic.v1.messagePublished` data: the Pub/Sub message, base64."""
    raw = envelope_json.encode() if isinstance(envelope_json, str) else envelope_json
    return {
        "message": {
            "data": base64.b64encode(raw).decode(),
            "messageId": message_id,
            "publishTime": "2026-12-02T12:00:00.000Z",
            "attributes": {},
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
