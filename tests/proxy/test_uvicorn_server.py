"""The proxy under uvicorn (STRANGLER_PROXY_SERVER=uvicorn, strangler_proxy/edge/uvicorn_server.py):
its workers share the connections, a dead worker is replaced, a kept-alive connection's next head
has a deadline too, what is not HTTP gets a problem+json 400, a taken port or an unknown server is
refused at start. (The slow-client and
HTTP-correctness suites run under it as under granian and gunicorn.)"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from tests.proxy.conftest import served_proxy
from tests.proxy.processes import start_serve
from tests.support.processes import children, free_port, stop_process

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def proxy(fake_monolith, tmp_path_factory):
    env = {"STRANGLER_PROXY_HEADER_TIMEOUT": "2"}
    folder = tmp_path_factory.mktemp("uvicorn")
    with served_proxy(fake_monolith, folder, env, server="uvicorn") as running:
        yield running


def _served_to(port: int, clients: set[int]) -> set[str]:
    """Socket inodes of the server's side of the established connections from `clients` (local
    ports) to `port`."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(f.rsplit(":", 1)[1], 16) for f in fields[1:3])
        if local == port and remote in clients and fields[3] == "01":
            inodes.add(fields[9])
    return inodes


def _connections_held(pid: int, inodes: set[str]) -> int:
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            held += 1
    return held


def test_the_workers_share_the_connections(proxy):
    # given: 32 kept-alive connections, each answered once
    conns = [http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10) for _ in range(32)]
    try:
        for index, conn in enumerate(conns):
            conn.request("GET", f"/share/{index}")
            response = conn.getresponse()
            response.read()
            assert response.status == 200
        # then: each worker holds a fair share (one socket per worker, SO_REUSEPORT); with one
        # shared socket the first worker to wake took 13 of 16
        inodes = _served_to(proxy.port, {conn.sock.getsockname()[1] for conn in conns})
        held = [_connections_held(pid, inodes) for pid in children(proxy.process.pid)]
        assert sum(held) == 32, held
        assert len(held) == 2 and min(held) >= 4, held  # (fewer: odds of 1 in 400,000)
    finally:
        for conn in conns:
            conn.close()


def test_a_worker_that_dies_is_replaced_and_the_other_serves_meanwhile(proxy):
    before = children(proxy.process.pid)
    assert len(before) == 2
    os.kill(before[0], signal.SIGKILL)
    # (connections waiting in the dead worker's own queue are reset, as under granian, whose
    # workers listen the same way: the requests below are made once it is gone)
    deadline = time.monotonic() + 10
    while before[0] in children(proxy.process.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    for index in range(5):
        assert proxy.get(f"/meanwhile/{index}") == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = children(proxy.process.pid)
        if len(now) == 2 and before[0] not in now:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"no worker replaced {before[0]}: {children(proxy.process.pid)}")
    for index in range(5):
        assert proxy.get(f"/after/{index}") == 200


def test_the_next_head_on_a_kept_alive_connection_has_its_deadline_too(proxy):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=15) as sock:
        sock.sendall(b"GET /first HTTP/1.1\r\nHost: example\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 200")
        # a second request whose head never ends, a byte at a time (each byte would restart a
        # keep-alive timer)
        started = time.monotonic()
        sock.sendall(b"GET /second HTTP/1.1\r\n")
        closed = False
        while time.monotonic() - started < 12:
            try:
                sock.sendall(b"X")
            except OSError:
                closed = True
                break
            sock.settimeout(0.5)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                chunk = b""
            if chunk == b"":
                closed = True
                break
        assert closed, "the proxy kept a head that never ended"
        assert time.monotonic() - started < 8


@pytest.mark.parametrize(
    "raw",
    [b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: example\r\nBad Name: x\r\n\r\n"],
    ids=["request-line", "header-name"],
)
def test_what_is_not_http_gets_a_problem_400_and_a_closed_connection(proxy, raw):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"Content-Type: application/problem+json" in head
    problem = json.loads(body)
    assert problem["status"] == 400 and problem["code"] == "bad_request", problem


def _serve(port: int, tmp_path: Path, **env: str) -> subprocess.Popen:
    return start_serve(
        port, tmp_path, subprocess.PIPE, **{"STRANGLER_PROXY_SERVER": "uvicorn", **env}
    )


def test_a_taken_port_is_refused_at_start_with_its_address(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        process = _serve(port, tmp_path)
        try:
            out = process.communicate(timeout=30)[0].decode()
        finally:
            stop_process(process, group=True)
    assert process.returncode != 0
    assert f"cannot bind 127.0.0.1:{port}" in out


def test_an_unknown_server_is_refused_at_start_with_its_name(tmp_path):
    process = _serve(free_port(), tmp_path, STRANGLER_PROXY_SERVER="hypercorn")
    try:
        out = process.communicate(timeout=30)[0].decode()
    finally:
        stop_process(process, group=True)
    assert process.returncode != 0
    assert "STRANGLER_PROXY_SERVER='hypercorn'" in out


# A worker whose first stop signal was swallowed: its exception raised inside an asyncio
# callback (logged, "Exception in callback") or a finalizer ("Exception ignored in"). A CI run
# met a proxy that did not stop in 90 s after a SIGTERM sent as its workers started.
_LOSES_ITS_FIRST_STOP = """
import os, sys, time
from strangler_proxy.edge import uvicorn_server

def worker(host, port, head_timeout, loop):
    try:
        os.write(1, b"worker up\\n")
        while True:
            time.sleep(0.01)
    except uvicorn_server._Stopped:
        os.write(1, b"first stop swallowed\\n")
    while True:  # serves on, as a worker whose signal was lost
        time.sleep(0.01)

uvicorn_server._worker = worker
sys.exit(uvicorn_server.serve("127.0.0.1", int(sys.argv[1]), workers=2, head_timeout=5))
"""


def test_a_worker_that_lost_its_stop_signal_is_sent_another(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", _LOSES_ITS_FIRST_STOP, str(free_port())],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        for _ in range(2):
            assert process.stdout.readline() == b"worker up\n"
        process.send_signal(signal.SIGTERM)  # the main process only: it signals its workers
        out = process.communicate(timeout=20)[0].decode()
    finally:
        stop_process(process, group=True)
    assert out.count("first stop swallowed") == 2, out
    assert process.returncode == 0, out


def test_a_stop_signal_swallowed_before_uvicorns_handlers_stops_it_as_it_starts(monkeypatch):
    from strangler_proxy.edge import uvicorn_server

    async def app(scope, receive, send):  # never called
        raise AssertionError(scope)

    monkeypatch.setattr(uvicorn_server, "_stop_requested", True)
    config = uvicorn.Config(app, lifespan="off", log_config=None, log_level="warning")
    server = uvicorn_server._server_class()(config)
    # (stopped after 10 s from here otherwise: the test fails, never hangs)
    backstop = threading.Timer(10, setattr, (server, "should_exit", True))
    previous = signal.signal(signal.SIGTERM, uvicorn_server._stopped)
    try:
        with socket.create_server(("127.0.0.1", 0)) as sock:
            backstop.start()
            with pytest.raises(uvicorn_server._Stopped):  # uvicorn's own re-raise, at its end
                server.run(sockets=[sock])
        assert backstop.is_alive()  # stopped before it
    finally:
        backstop.cancel()
        signal.signal(signal.SIGTERM, previous)
