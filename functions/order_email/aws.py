"""The AWS Lambda handler for an SQS event source (`ReportBatchItemFailures` on).

Each record's body is an envelope. A record that fails (breaks the contract, or a transient
failure) is named in `batchItemFailures`: SQS makes only those visible again, the others are
deleted; after the queue's `maxReceiveCount` a failing record moves to its dead-letter queue.
Raising would fail the whole batch, so the handler never does for a record's fault.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from functions.order_email.errors import InvalidEvent, RetryLater
from functions.order_email.runtime import default_handler

logger = logging.getLogger("functions.order_email")
logger.setLevel(logging.INFO)


def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    failures: list[dict[str, str]] = []
    order_email = default_handler()
    for record in event["Records"]:
        message_id = record["messageId"]
        try:
            outcome = order_email.handle(record["body"])
        except (InvalidEvent, RetryLater) as exc:
            kind = "invalid" if isinstance(exc, InvalidEvent) else "retry"
            logger.warning("order_email %s %s: %s", kind, message_id, exc)
            failures.append({"itemIdentifier": message_id})
            continue
        logger.info("order_email %s", json.dumps({"message_id": message_id, **outcome.to_dict()}))
    return {"batchItemFailures": failures}
