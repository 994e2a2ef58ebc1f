"""Fake upstreams for the proxy suite: small threaded HTTP/1.1 servers that record what they get."""

from __future__ import annotations

import base64
import gzip
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.support.processes import free_port


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeUpstream

    def setup(self) -> None:
        super().setup()
        # headers and body leave in two writes: without this, delayed ACKs add 40 ms each
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args) -> None:  # quiet
        return None

    def send_error(self, code, message=None, explain=None) -> None:
        # http.server's own refusal (more than 100 header fields, a line over 64 KB...), before
        # any handler: the request still reached this upstream, and `received` says so.
        self.server.received.append({"refused": code, "message": message})
        super().send_error(code, message, explain)

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        names = {k.lower() for k, _ in headers}
        for name, value in headers:
            self.send_header(name, value)
        if "content-type" not in names:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        body = self._body()
        record = {
            "method": self.command,
            "target": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": base64.b64encode(body).decode(),
            "server": self.server.name,
        }
        self.server.received.append(record)
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        path = parts.path
        behaviour = self.server.behaviour
        if behaviour is not None:
            result = behaviour(self, record)
            if result is not None:
                self._send(*result)
                return
        if path == "/readyz":
            self._send(200 if self.server.ready else 503, b'{"status": "ready"}')
        elif path.startswith("/status/"):
            self._send(
                int(path.rsplit("/", 1)[1]), json.dumps({"server": self.server.name}).encode()
            )
        elif path == "/cookies":
            self._send(
                200,
                b"{}",
                [
                    ("Set-Cookie", "sessionid=abc; HttpOnly; Path=/; SameSite=Lax"),
                    ("Set-Cookie", "csrftoken=xyz; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT"),
                ],
            )
        elif path == "/redirect":
            host = f"http://127.0.0.1:{self.server.server_port}"
            self._send(
                302, b"", [("Location", f"{host}/landing?x=1"), ("Content-Type", "text/plain")]
            )
        elif path == "/redirect-chunked":
            self._chunked_redirect(query.get("to", ["/landing"])[0])
        elif path == "/redirect-relative":
            self._send(302, b"", [("Location", "/landing"), ("Content-Type", "text/plain")])
        elif path == "/gzip":
            # mtime=0: the same bytes on every request (the test compares two answers)
            payload = gzip.compress(json.dumps({"hello": "world" * 50}).encode(), mtime=0)
            self._send(200, payload, [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")])
        elif path == "/hop":
            self._send(
                200,
                b"{}",
                [
                    ("Connection", "X-Secret-Hop"),
                    ("X-Secret-Hop", "1"),
                    ("Keep-Alive", "timeout=5"),
                    ("X-End-To-End", "kept"),
                ],
            )
        elif path == "/stream":
            self._stream(int(query.get("chunks", ["4"])[0]))
        elif path == "/slow":
            time.sleep(float(query.get("s", ["1"])[0]))
            self._send(200, b'{"slow": true}')
        else:
            # as every service does (servicekit's request id middleware): the id it was given
            given = [
                ("X-Request-ID", v) for k, v in record["headers"] if k.lower() == "x-request-id"
            ]
            self._send(200, json.dumps(record).encode(), [("X-Upstream", self.server.name), *given])

    def _chunked_redirect(self, to: str) -> None:
        """A 302 to this server's own origin with a chunked body (Django's StreamingHttpResponse
        and many frameworks' redirects look so); `{name}` in `to` becomes the server's name."""
        self.send_response(302)
        origin = f"http://127.0.0.1:{self.server.server_port}"
        self.send_header("Location", origin + to.replace("{name}", self.server.name))
        self.send_header("Content-Type", "text/html")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"9\r\nMoved to \r\n4\r\nhere\r\n0\r\n\r\n")

    def _stream(self, chunks: int) -> None:
        """Chunked: the first chunk, then wait until the test says go (proves no buffering)."""
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        block = b"x" * 65536
        try:
            for index in range(chunks):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                self.wfile.flush()
                if index == 0:
                    self.server.first_chunk_sent.set()
                    self.server.release_stream.wait(30)
            self.wfile.write(b"0\r\n\r\n")
            self.server.stream_finished.set()
        except OSError:
            self.server.stream_aborted.set()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class FakeUpstream(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, name: str = "upstream", behaviour=None):
        super().__init__(("127.0.0.1", free_port()), _Handler)
        self.name = name
        self.behaviour = behaviour
        self.received: list[dict] = []
        self.ready = True
        self.first_chunk_sent = threading.Event()
        self.release_stream = threading.Event()
        self.stream_finished = threading.Event()
        self.stream_aborted = threading.Event()
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def start(self) -> FakeUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release_stream.set()
        self.shutdown()
        self.server_close()
