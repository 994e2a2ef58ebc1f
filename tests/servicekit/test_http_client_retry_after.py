"""The service client honours Retry-After: a short one is waited out, a long one is passed on."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from servicekit.web.discovery.registry import StaticRegistry
from servicekit.web.http_client import ServiceClient, UpstreamError, retry_after_seconds


@pytest.fixture
def service():
    """Answers `answers` in order (status, Retry-After or None), then 200; `seen` their times."""
    state = {"answers": [], "seen": []}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _handle(self):
            state["seen"].append(time.monotonic())
            status, retry_after = state["answers"].pop(0) if state["answers"] else (200, None)
            self.send_response(status)
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_POST = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_port}"
    yield state
    server.shutdown()
    server.server_close()


def client(url: str, **kwargs) -> ServiceClient:
    return ServiceClient("svc", registry=StaticRegistry({"svc": [url]}), **kwargs)


def test_a_short_retry_after_is_waited_out_then_retried(service):
    service["answers"] = [(503, "1")]
    response = client(service["url"], max_retry_after=2).get("/x")
    assert response.status == 200
    first, second = service["seen"]
    assert second - first >= 0.9


def test_a_long_retry_after_ends_the_retries_and_is_passed_on(service):
    service["answers"] = [(503, "30")]
    with pytest.raises(UpstreamError) as failed:
        client(service["url"], max_retry_after=2).get("/x")
    assert failed.value.retry_after == 30
    assert len(service["seen"]) == 1


def test_a_post_without_a_key_is_not_retried_but_hears_the_retry_after(service):
    service["answers"] = [(503, "1")]
    with pytest.raises(UpstreamError) as failed:
        client(service["url"]).post("/x", json={})
    assert failed.value.retry_after == 1 and len(service["seen"]) == 1


def test_waits_for_retry_after_do_not_open_the_breaker(service):
    service["answers"] = [(503, "0")] * 12
    svc = client(service["url"], attempts=1)
    for _ in range(12):
        with pytest.raises(UpstreamError):
            svc.get("/x")
    assert svc.breaker.current_state == "closed"
    assert svc.get("/x").status == 200


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:05 GMT", now=now) == 5.0
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
