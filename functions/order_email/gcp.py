"""The Cloud Run function (functions-framework, CloudEvent signature).

`order_email` takes the CloudEvent Eventarc delivers for a Pub/Sub message
(`google.cloud.pubsub.topic.v1.messagePublished`: the envelope is the base64 `message.data`), or
one whose data is the envelope itself (an Eventarc custom event). Answers, as the trigger reads
them: 200 handled (sent, or a duplicate skipped); 400 problem+json for an event that breaks the
contract (never made good by a retry: with a dead-letter policy it goes there after the
subscription's max delivery attempts); 503 for a transient failure, which the trigger retries with
backoff (`--retry`).

Run locally: `functions-framework --source functions/order_email/gcp.py --target order_email
--signature-type cloudevent --port 8080`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

import functions_framework
from cloudevents.http.event import CloudEvent

from functions.order_email.errors import InvalidEvent, RetryLater
from functions.order_email.runtime import default_handler

logger = logging.getLogger("functions.order_email")

PUBSUB_MESSAGE_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"


def envelope_from_cloud_event(cloud_event: CloudEvent) -> Any:
    """The envelope a CloudEvent carries: inside a Pub/Sub message, or as its data."""
    data = cloud_event.get_data()
    if cloud_event["type"] != PUBSUB_MESSAGE_PUBLISHED:
        return data
    try:
        encoded = data["message"]["data"]
        return base64.b64decode(encoded, validate=True)
    except (TypeError, KeyError, binascii.Error) as exc:
        raise InvalidEvent(f"not a Pub/Sub message with base64 data: {exc!r}") from exc


@functions_framework.cloud_event
def order_email(cloud_event: CloudEvent) -> None:
    outcome = default_handler().handle(envelope_from_cloud_event(cloud_event))
    logger.info("order_email %s", json.dumps({"ce_id": cloud_event["id"], **outcome.to_dict()}))


def _problem(status: int, title: str, detail: str) -> tuple[str, int, dict[str, str]]:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return json.dumps(body), status, {"Content-Type": "application/problem+json"}


# functions-framework sets `errorhandler` to its Flask app's before it imports this module.
@functions_framework.errorhandler(InvalidEvent)
def _invalid_event(exc: InvalidEvent):
    logger.warning("order_email invalid event: %s", exc)
    return _problem(400, "invalid event", str(exc))


@functions_framework.errorhandler(RetryLater)
def _retry_later(exc: RetryLater):
    logger.warning("order_email retry later: %s", exc)
    return _problem(503, "retry later", str(exc))
