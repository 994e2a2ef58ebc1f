"""What gunicorn refuses before the application sees it is answered as problem+json.

A real gunicorn, started the way the Procfile starts every service (its worker class), is sent
what its parser refuses: a request line over `limit_request_line`, a malformed header line, too
many header fields. Each answer is the status gunicorn chose, as RFC 9457 problem details, never
its HTML page."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from servicekit.web.procfile import read_procfile
from tests.support.processes import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
WORKER = "servicekit.web.gunicorn_worker.ProblemThreadWorker"

APP = """
import gc

def application(environ, start_response):
    body = b"served"
    if environ["PATH_INFO"] == "/frozen":  # how much of the worker's heap is out of the collector
        body = str(gc.get_freeze_count()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def test_every_gunicorn_line_of_the_procfile_uses_the_worker():
    lines = [c for c in read_procfile(ROOT / "Procfile").values() if c.startswith("gunicorn ")]
    assert lines, "no gunicorn process in the Procfile"
    for command in lines:
        assert f"--worker-class {WORKER}" in command, command


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gunicorn-app")
    (folder / "hello_app.py").write_text(APP)
    port = free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "hello_app:application",
            "--pythonpath",
            f"{folder},{ROOT}",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "2",
            "--worker-class",
            WORKER,
        ],
        cwd=ROOT,
        # as the Procfile's processes start: gunicorn loads its worker class before any
        # application has named its settings module
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            assert process.poll() is None, process.stderr.read().decode(errors="replace")
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
    try:
        yield port
    finally:
        stop_process(process, group=True)


def _exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


def test_a_normal_request_is_served(server):
    status, _, body = _exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (status, body) == (200, b"served")


def test_the_worker_freezes_what_it_loaded_before_serving(server):
    # (full collections walk only what requests leave: servicekit.web.commands.freeze_startup_heap)
    status, _, body = _exchange(
        server, b"GET /frozen HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 200 and int(body) > 5_000, body


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        pytest.param(
            b"GET /?" + b"sku=%C3%A9" * 600 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            414,
            "uri_too_long",
            id="request-line-too-long",
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\x01: y\r\n\r\n",
            400,
            "bad_request",
            id="malformed-header",
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(120)) + b"\r\n",
            431,
            "request_header_fields_too_large",
            id="too-many-headers",
        ),
    ],
)
def test_what_the_parser_refuses_is_answered_as_problem_json(server, raw, status, code):
    got, headers, body = _exchange(server, raw)
    assert got == status, body
    assert headers["content-type"] == "application/problem+json", headers
    assert int(headers["content-length"]) == len(body)
    problem = json.loads(body)
    assert problem["status"] == status and problem["code"] == code, problem
    assert problem["type"].endswith(code) and problem["title"] and problem["detail"], problem
    assert b"<html" not in body
