"""orders_backfill rides out a busy source: a login that times out, a 503 and a 429 with
Retry-After, a page that answers too slowly; it completes with settable timeouts and retries."""

from __future__ import annotations

import io
import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import CommandError, call_command

from extracted.orders.orders.models import Order
from servicekit.migration.export_client import ExportPolicy
from tests.extracted.orders.test_api_and_history import _export_row
from tests.support.export_rows import product_export_row

pytestmark = pytest.mark.django_db

PRODUCT = product_export_row("MUG-1", 1)
PAGES = {
    "/api/v1/catalog/export/": {"products": [PRODUCT], "categories": [], "next_after": None},
    "/api/v1/orders/export/": {"orders": [_export_row(41, key="mono-key")], "next_after": None},
}


class BusySource:
    """A monolith under load: each path misbehaves in its script's order, then answers."""

    def __init__(self, scripts: dict[str, list[str]]):
        self.scripts = {path: list(steps) for path, steps in scripts.items()}
        self.seen: dict[str, list[float]] = defaultdict(list)
        source = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                source.answer(self, {"access": "staff-token"})

            def do_GET(self):
                path = self.path.split("?")[0]
                assert self.headers["Authorization"] == "Bearer staff-token"
                source.answer(self, PAGES[path])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def answer(self, handler: BaseHTTPRequestHandler, body: dict) -> None:
        path = handler.path.split("?")[0]
        self.seen[path].append(time.monotonic())
        steps = self.scripts.get(path) or []
        step = steps.pop(0) if steps else "ok"
        if step == "slow":
            time.sleep(1.0)  # longer than the client's read timeout
        elif step in ("503", "429"):
            handler.send_response(int(step))
            handler.send_header("Retry-After", "1")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        data = json.dumps(body).encode()
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up on this slow answer

    def __enter__(self) -> BusySource:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_backfill_completes_after_timeouts_503s_and_429s(monkeypatch):
    # given: the login times out once, the catalog export answers 503 then too slowly, the
    # orders export is rate limited once
    monkeypatch.setenv("BACKFILL_PASSWORD", "staff-demo-pass")
    scripts = {
        "/api/v1/auth/token": ["slow"],
        "/api/v1/catalog/export/": ["503", "slow"],
        "/api/v1/orders/export/": ["429"],
    }
    out = io.StringIO()

    # when
    with BusySource(scripts) as source:
        call_command(
            "orders_backfill",
            f"--source={source.url}",
            "--read-timeout=0.4",
            "--attempts=4",
            stdout=out,
        )

    # then: everything arrived, and each Retry-After was waited out before the retry
    assert "products: 1, orders: 1, idempotency keys: 1" in out.getvalue()
    assert Order.objects.filter(pk=41).exists()
    assert len(source.seen["/api/v1/auth/token"]) == 2
    catalog = source.seen["/api/v1/catalog/export/"]
    orders = source.seen["/api/v1/orders/export/"]
    assert len(catalog) == 3 and len(orders) == 2
    assert catalog[1] - catalog[0] >= 0.9 and orders[1] - orders[0] >= 0.9


def test_a_source_that_stays_down_fails_with_where_to_resume(monkeypatch):
    monkeypatch.setenv("BACKFILL_PASSWORD", "staff-demo-pass")
    with (
        BusySource({"/api/v1/auth/token": ["slow"] * 3}) as source,
        pytest.raises(CommandError, match="login as staff"),
    ):
        call_command(
            "orders_backfill", f"--source={source.url}", "--read-timeout=0.2", "--attempts=2"
        )
    assert len(source.seen["/api/v1/auth/token"]) == 2


def test_the_export_policy_reads_the_environment_then_the_options():
    environ = {"EXPORT_READ_TIMEOUT": "12.5", "EXPORT_ATTEMPTS": "7"}
    assert ExportPolicy.from_env(environ) == ExportPolicy(read_timeout=12.5, attempts=7)
    policy = ExportPolicy.from_env(environ, read_timeout=3.0, attempts=None)
    assert (policy.read_timeout, policy.attempts) == (3.0, 7)
    with pytest.raises(ValueError, match="EXPORT_ATTEMPTS"):
        ExportPolicy.from_env({"EXPORT_ATTEMPTS": "many"})
