"""The Lambda handler under AWS's own runtime interface client (`python -m awslambdaric`, what a
Lambda container image runs), fed through the Runtime API the way Lambda's SQS poller invokes
it: a batch of records, the bad one reported in `batchItemFailures` while the good ones send."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.functions.builders import customer_json, placed_json
from tests.support.lambda_runtime_api import runtime_api_start, sqs_event
from tests.support.processes import stop_process

ROOT = Path(__file__).resolve().parents[2]
HANDLER = "functions.order_email.aws.handler"  # the SAM template's Handler


@pytest.fixture
def lambda_runtime(function_env, tmp_path):
    api, server = runtime_api_start()
    log = (tmp_path / "awslambdaric.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "awslambdaric", HANDLER],
        cwd=ROOT,  # LAMBDA_TASK_ROOT: the deployment package's root
        env={
            **os.environ,
            **function_env,
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_NAME": "order-email",
            "LAMBDA_TASK_ROOT": str(ROOT),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield api
    finally:
        stop_process(process, timeout=5)
        server.shutdown()
        log.close()


def test_a_batch_sends_the_good_records_and_reports_the_bad_one(lambda_runtime, sink):
    # given
    assert lambda_runtime.invoke(sqs_event([("m-0", customer_json())])).body == {
        "batchItemFailures": []
    }
    broken = json.loads(placed_json(31)[1])
    broken["payload"]["lines"] = "not a list"
    batch = sqs_event(
        [("m-1", placed_json(31)[1]), ("m-2", json.dumps(broken)), ("m-3", placed_json(32)[1])]
    )

    # when
    answer = lambda_runtime.invoke(batch)

    # then
    assert answer.ok
    assert answer.body == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    assert sorted(m["Subject"] for m in sink.received()) == ["Order 31 placed", "Order 32 placed"]


def test_a_redelivered_batch_sends_nothing_twice(lambda_runtime, sink):
    lambda_runtime.invoke(sqs_event([("m-0", customer_json())]))
    batch = sqs_event([("m-1", placed_json(33)[1]), ("m-2", placed_json(34)[1])])

    first = lambda_runtime.invoke(batch)
    again = lambda_runtime.invoke(batch)  # the visibility timeout ran out before the delete

    assert first.body == again.body == {"batchItemFailures": []}
    assert sorted(m["Subject"] for m in sink.received()) == ["Order 33 placed", "Order 34 placed"]


def test_a_record_that_cannot_be_sent_yet_is_reported_for_redelivery(lambda_runtime, sink):
    _, early = placed_json(35, customer_id=99)  # the users stream has not named user 99

    answer = lambda_runtime.invoke(sqs_event([("m-1", early)]))

    assert answer.body == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert sink.received() == []
    lambda_runtime.invoke(sqs_event([("m-2", customer_json(99, email="dan@example.com"))]))
    assert lambda_runtime.invoke(sqs_event([("m-1", early)])).body == {"batchItemFailures": []}
    assert [m["To"] for m in sink.received()] == ["dan@example.com"]
