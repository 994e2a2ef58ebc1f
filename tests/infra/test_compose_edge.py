"""deploy/container/edge.py, the compose fleet's edge, with a real nginx (Debian's package) and
two stub upstreams: it serves the live route table, and a `routes set` made elsewhere (the proxy
container, here another process) reaches nginx without anyone telling it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import urllib3

from tests.infra.fleet import ROOT
from tests.proxy.nginx_plane import nginx_binary
from tests.support.processes import free_port, stop_process
from tests.support.wait import wait_for, wait_http

FLIPPED = "catalog-products-read"
PATH = "/api/v1/products/COF-0001/"


class Named(BaseHTTPRequestHandler):
    """Answers every GET with the server's name."""

    def do_GET(self) -> None:
        body = self.server.name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstreams() -> Iterator[dict[str, str]]:
    servers = []
    for name in ("monolith", "catalog"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Named)
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    monolith, catalog = (f"http://127.0.0.1:{s.server_address[1]}" for s in servers)
    yield {
        "STRANGLER_MONOLITH_URL": monolith,
        "STRANGLER_CATALOG_URL": catalog,
        **{f"STRANGLER_{n}_URL": monolith for n in ("NOTIFICATIONS", "USERS", "ORDERS")},
    }
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_edge_serves_the_live_table_and_follows_a_flip_made_elsewhere(tmp_path, upstreams):
    nginx = Path(nginx_binary())
    port = free_port()
    env = {
        **os.environ,
        **upstreams,
        "PATH": f"{nginx.parent}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "DJANGO_ENV": "test",
        "STRANGLER_DATA_DIR": str(tmp_path),  # as the compose volume: routes.yaml, nginx/
        "STRANGLER_NGINX_CONF": str(tmp_path / "nginx" / "nginx.conf"),
        "STRANGLER_NGINX_LISTEN": f"127.0.0.1:{port}",
    }
    edge = subprocess.Popen(
        [sys.executable, str(ROOT / "deploy" / "container" / "edge.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    http = urllib3.PoolManager(retries=False, timeout=5)
    url = f"http://127.0.0.1:{port}{PATH}"
    try:
        wait_http(url, timeout=60, process=edge)
        # given: the packaged table, seeded into the data folder, serves the read from the monolith
        first = http.request("GET", url)
        assert (first.status, first.data, first.headers["Server"]) == (200, b"monolith", "nginx")
        # when: the route flips in another process (the proxy container's CLI)
        cli = [sys.executable, "-m", "strangler_proxy", "routes", "set", FLIPPED]
        cli_env = {k: v for k, v in env.items() if k != "STRANGLER_NGINX_CONF"}
        subprocess.run([*cli, "--mode", "extracted"], env=cli_env, cwd=ROOT, check=True)
        # then: nginx, regenerated and reloaded by the edge, serves it from the catalog
        wait_for(
            lambda: http.request("GET", url).data == b"catalog",
            timeout=30,
            what="nginx to follow the flip",
        )
        edge.send_signal(signal.SIGTERM)  # compose's stop: nginx quits gracefully
        assert edge.wait(timeout=30) == 0
    finally:
        stop_process(edge)
    log = edge.stdout.read() if edge.stdout else ""
    assert "route table changed: nginx regenerated and reloaded" in log, log
