"""The Lambda Runtime API's server side, for running a handler under AWS's own runtime client
(`python -m awslambdaric module.handler`, what a Lambda container image runs).

Serves the endpoints the client calls (`/2018-06-01/runtime/invocation/next`, `.../response`,
`.../error`, `/runtime/init/error`) on a free loopback port; `invoke(event)` queues one
invocation and waits for the answer, as the Lambda service does for an SQS poller's batch.
"""

from __future__ import annotations

import hashlib
import json
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.processes import free_port

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:order-email"


@dataclass
class Answer:
    ok: bool
    body: Any
    answered_at: float


@dataclass
class RuntimeApi:
    port: int = 0
    pending: queue.Queue = field(default_factory=queue.Queue)
    answers: dict[str, queue.Queue] = field(default_factory=dict)
    init_errors: list[Any] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def invoke(self, event: Any, *, timeout: float = 60.0) -> Answer:
        request_id = str(uuid.uuid4())
        self.answers[request_id] = queue.Queue()
        self.pending.put((request_id, json.dumps(event).encode()))
        try:
            return self.answers[request_id].get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(
                f"no answer to invocation {request_id} in {timeout} s; init errors: "
                f"{self.init_errors}"
            ) from None


def _handler_for(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args) -> None:  # quiet test output
            return

        def _reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path != f"{PREFIX}/invocation/next":
                self._reply(404)
                return
            request_id, body = api.pending.get()  # long poll, as the real API does
            deadline = int((time.time() + 300) * 1000)
            self._reply(
                200,
                body,
                {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                },
            )

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"null")
            parts = self.path.removeprefix(PREFIX).strip("/").split("/")
            if parts[:2] == ["init", "error"]:
                api.init_errors.append(body)
            elif len(parts) == 3 and parts[0] == "invocation" and parts[1] in api.answers:
                answer = Answer(ok=parts[2] == "response", body=body, answered_at=time.time())
                api.answers[parts[1]].put(answer)
            else:
                self._reply(404)
                return
            self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # a stopped runtime client drops its long poll: not an error of the API
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def runtime_api_start() -> tuple[RuntimeApi, ThreadingHTTPServer]:
    """Serve in a daemon thread; stop with `server.shutdown()`."""
    api = RuntimeApi(port=free_port())
    server = _Server(("127.0.0.1", api.port), _handler_for(api))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return api, server


def sqs_event(bodies: list[tuple[str, str]], *, queue_name: str = "order-events") -> dict:
    """The event Lambda's SQS poller delivers: one record per (messageId, body)."""
    now_ms = str(int(time.time() * 1000))
    arn = f"arn:aws:sqs:eu-west-1:123456789012:{queue_name}"
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"AQEB{uuid.uuid4().hex}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": now_ms,
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": now_ms,
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode()).hexdigest(),  # SQS's own checksum
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "eu-west-1",
            }
            for message_id, body in bodies
        ]
    }
