"""Slow clients cannot starve the proxy: head and body deadlines under the real server."""

from __future__ import annotations

import http.client
import socket
import time

import pytest

from tests.proxy.conftest import served_proxy
from tests.proxy.processes import SERVERS

pytestmark = pytest.mark.e2e

SLOW_CLIENTS = 100


@pytest.fixture(scope="module")
def upstream(fake_monolith):
    return fake_monolith


@pytest.fixture(scope="module", params=SERVERS)
def proxy(request, upstream, tmp_path_factory):
    """Each server's own defence: granian's header timeout and the adapter's body deadline,
    gunicorn's deadline worker (strangler_proxy/edge/worker.py)."""
    env = {"STRANGLER_PROXY_HEADER_TIMEOUT": "4", "STRANGLER_PROXY_BODY_TIMEOUT": "3"}
    folder = tmp_path_factory.mktemp(request.param)
    with served_proxy(upstream, folder, env, server=request.param) as running:
        yield running


def _read_until(sock: socket.socket, done) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
        if done(data):
            break
    return data


def test_a_normal_client_is_served_while_a_hundred_slow_heads_hang(proxy):
    # given: 100 connections, each with an unfinished header line (slowloris)
    slow = []
    try:
        for _ in range(SLOW_CLIENTS):
            sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
            sock.sendall(b"GET /slow HTTP/1.1\r\nHost: example\r\nX-Slow: ")
            slow.append(sock)
        time.sleep(0.5)
        # when / then: ordinary requests are answered at once, several times over
        for index in range(5):
            assert proxy.get(f"/fast/{index}") == 200
    finally:
        for sock in slow:
            sock.close()


def test_a_head_that_never_ends_is_cut_off_at_its_deadline(proxy):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=15) as sock:
        sock.sendall(b"GET /never HTTP/1.1\r\nHost: example\r\n")
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the proxy, not by our own timeout
        assert time.monotonic() - started < 12


def test_a_stalled_body_gets_a_problem_and_frees_the_thread(proxy, upstream):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=15) as sock:
        sock.sendall(
            b"POST /api/stalled HTTP/1.1\r\nHost: example\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"a":'
        )
        answer = _read_until(sock, lambda data: b"\r\n\r\n" in data and data.endswith(b"}"))
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"incomplete_body" in answer
    assert not [r for r in upstream.received if r["target"] == "/api/stalled"]


def test_pipelined_and_kept_alive_requests_still_work(proxy):
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        for index in range(3):
            conn.request("GET", f"/kept/{index}")
            response = conn.getresponse()
            response.read()
            assert response.status == 200
    finally:
        conn.close()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(
            b"GET /p/1 HTTP/1.1\r\nHost: example\r\n\r\n"
            b"GET /p/2 HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n"
        )
        data = _read_until(sock, lambda _data: False)
    assert data.count(b"HTTP/1.1 200") == 2
