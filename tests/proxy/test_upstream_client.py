"""The lean upstream client against scripted raw-socket servers: framing, reuse, broken links."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from strangler_proxy.upstream.client import Client, ConnectError, ProtocolError, ReadTimeout
from strangler_proxy.upstream.connection import IDLE_MAX


class Scripted:
    """Accepts connections; for each request read, sends the next scripted answer.

    An answer is bytes, or None to close the connection without answering."""

    def __init__(self, answers: list[bytes | None], *, close_after: bool = False):
        self.answers = list(answers)
        self.close_after = close_after
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while self.answers:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buf) < length:
                    buf += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + buf[:length])
                buf = buf[length:]
                answer = self.answers.pop(0)
                if answer is None:
                    return
                conn.sendall(answer)
                if self.close_after:
                    return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def client():
    return Client(maxsize=4)


def _get(client, server, method="GET", body=None, headers=(("Host", "x"),)):
    return client.request(
        server.url, method, "/p?q=1", list(headers), body, connect_timeout=2, read_timeout=2
    )


def test_content_length_body_and_keep_alive_reuse(client):
    server = Scripted(
        [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\nhello"] * 2
    )
    first = _get(client, server)
    assert (first.status, first.reason) == (200, "OK")
    assert first.headers.get_all("x-a") == ["1", "2"]
    assert first.read() == b"hello"
    first.release_conn()
    second = _get(client, server)
    assert second.read() == b"hello"
    second.release_conn()
    assert server.connections == 1
    assert server.requests[0].startswith(b"GET /p?q=1 HTTP/1.1\r\nHost: x\r\n")
    server.close()


def test_request_body_gets_its_content_length(client):
    server = Scripted([b"HTTP/1.1 204 No Content\r\n\r\n"] * 2)
    _get(client, server, "POST", body=b"\x00\x01binary").release_conn()
    assert server.requests[0].endswith(b"Content-Length: 8\r\n\r\n\x00\x01binary")
    _get(client, server, "POST").release_conn()  # no body: an explicit zero length
    assert b"Content-Length: 0\r\n" in server.requests[1]
    server.close()


def test_chunked_response_is_dechunked_and_trailers_dropped(client):
    server = Scripted(
        [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: t\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        ]
    )
    response = _get(client, server)
    assert b"".join(response.stream(4)) == b"abc0123456789abcdef"
    response.release_conn()
    again = _get(client, server)
    assert again.read() == b"ok"
    assert server.connections == 1  # the chunked answer was read to its end: reused
    server.close()


def test_large_body_streams_in_bounded_pieces(client):
    payload = bytes(range(256)) * 4096  # 1 MiB
    server = Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload])
    response = _get(client, server)
    pieces = list(response.stream(65536))
    assert b"".join(pieces) == payload
    assert max(len(p) for p in pieces) <= 65536
    server.close()


def test_body_until_close_and_connection_close_are_not_reused(client):
    server = Scripted([b"HTTP/1.1 200 OK\r\n\r\nall of it"], close_after=True)
    response = _get(client, server)  # no length: the close ends the body
    assert response.read() == b"all of it"
    response.release_conn()
    closing = Scripted([b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"])
    answer = _get(client, closing)
    assert answer.read() == b"ok"
    answer.release_conn()
    assert client.origin(server.url).idle == client.origin(closing.url).idle == []
    server.close()
    closing.close()


def test_head_204_304_and_1xx_have_no_body(client):
    server = Scripted(
        [
            b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
        ]
    )
    head = _get(client, server, "HEAD")
    assert head.read() == b"" and head.headers.get("content-length") == "1234"
    head.release_conn()
    cached = _get(client, server)
    assert cached.status == 304 and cached.read() == b""
    cached.release_conn()
    assert server.connections == 1
    server.close()


def _kept_alive(client, answers: list[bytes | None]) -> Scripted:
    """A server whose first answer (`a`) left one idle connection in the pool."""
    server = Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", *answers])
    first = _get(client, server)
    assert first.read() == b"a"
    first.release_conn()
    return server


def test_idle_connection_closed_by_upstream_is_replaced(client):
    server = _kept_alive(client, [b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"] * 2)
    idle = client.origin(server.url).idle[0]
    idle.sock.shutdown(socket.SHUT_RDWR)  # as if the upstream's keep-alive timer closed it
    assert _get(client, server).read() == b"b"
    assert server.connections == 2
    server.close()


def test_kept_alive_connection_closed_without_answer_is_retried_once_when_idempotent(client):
    server = _kept_alive(client, [None, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"])
    retried = _get(client, server)  # the reused one closes unanswered: sent again on a new one
    assert retried.read() == b"b"
    assert server.connections == 2
    server.close()


def test_kept_alive_connection_closed_without_answer_is_an_error_for_post(client):
    server = _kept_alive(client, [None])
    with pytest.raises(ProtocolError):
        _get(client, server, "POST", body=b"x")
    server.close()


def test_a_connection_idle_near_the_upstreams_keep_alive_is_not_reused(client):
    # given a kept-alive connection idle longer than the pool keeps one (the upstream's
    # keep-alive timer may close it just as a request goes out)
    server = _kept_alive(client, [b"HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nb"])
    client.origin(server.url).idle[0].idle_since -= IDLE_MAX
    # when a POST (never retried on a reused connection) is sent
    answer = _get(client, server, "POST", body=b"x")
    # then it went on a new connection and was answered
    assert answer.status == 201 and answer.read() == b"b"
    assert server.connections == 2
    server.close()


def test_truncated_body_and_bad_framing_are_protocol_errors(client):
    server = Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"], close_after=True)
    response = _get(client, server)
    with pytest.raises(ProtocolError):
        response.read()
    response.close()
    bad = Scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"])
    with pytest.raises(ProtocolError):
        _get(client, bad)
    garbage = Scripted([b"SMTP ready\r\n\r\n"])
    with pytest.raises(ProtocolError):
        _get(client, garbage)
    for s in (server, bad, garbage):
        s.close()


def test_connect_refused_and_read_timeout(client):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectError):
        client.request(
            f"http://127.0.0.1:{port}", "GET", "/", [], None, connect_timeout=1, read_timeout=1
        )
    silent = socket.create_server(("127.0.0.1", 0))
    with pytest.raises(ReadTimeout):
        client.request(
            f"http://127.0.0.1:{silent.getsockname()[1]}",
            "GET",
            "/",
            [],
            None,
            connect_timeout=1,
            read_timeout=0.2,
        )
    silent.close()


def test_chunked_framing_wins_and_its_content_length_is_dropped(client):
    # RFC 9112 6.3: with both, Transfer-Encoding frames the body; a forwarded Content-Length
    # would announce bytes that never come (or leave stray ones for the next response)
    server = Scripted(
        [
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n"
        ]
    )
    response = _get(client, server)
    assert response.headers.get("Content-Length") is None
    assert response.read() == b"abc"
    response.close()
    server.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3_0\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: \u00b3\r\n\r\nabc".encode("latin-1"),
        "HTTP/1.1 200 OK\r\nContent-Length: \u0663\r\n\r\nabc".encode(),
        b"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc",
    ],
)
def test_chunk_sizes_and_content_length_are_parsed_strictly(client, answer):
    server = Scripted([answer])
    with pytest.raises(ProtocolError):
        _get(client, server).read()
    server.close()


def _answer_early(answer: bytes) -> tuple[socket.socket, str]:
    """An upstream that reads only the request head, answers, and closes without reading the
    body (Django refusing a large POST on CSRF does this): the client's write then breaks."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += conn.recv(4096)
        conn.sendall(answer)
        conn.close()  # unread body in its buffer: the kernel answers the rest with a reset

    threading.Thread(target=serve, daemon=True).start()
    return listener, f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_an_early_answer_to_a_large_body_reaches_the_client_not_a_502(client):
    refusal = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\nConnection: close\r\n\r\ncsrf no"
    listener, url = _answer_early(refusal)
    body = b"x" * (32 * 1024 * 1024)  # far more than the socket buffers hold
    response = client.request(
        url, "POST", "/upload", [("Host", "x")], body, connect_timeout=2, read_timeout=5
    )
    assert response.status == 403
    assert response.read() == b"csrf no"
    response.release_conn()
    listener.close()


def test_a_write_broken_without_an_answer_is_still_a_protocol_error(client):
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    with pytest.raises(ProtocolError):
        client.request(
            url,
            "POST",
            "/x",
            [("Host", "x")],
            b"y" * (32 * 1024 * 1024),
            connect_timeout=2,
            read_timeout=5,
        )
    listener.close()


def test_the_read_timeout_not_the_connect_timeout_bounds_each_wait(client):
    # the server answers the first request, then goes silent on the same connection
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    held = []

    def answer_once():
        conn, _ = listener.accept()
        held.append(conn)
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    threading.Thread(target=answer_once, daemon=True).start()

    def get(read_timeout):
        return client.request(
            url, "GET", "/", [], None, connect_timeout=5, read_timeout=read_timeout
        )

    first = get(3)
    assert first.read() == b"ok"
    first.release_conn()
    started = time.monotonic()
    with pytest.raises(ReadTimeout):
        get(0.2)  # the kept-alive connection: its timeout changes from 3 s to 0.2 s
    assert time.monotonic() - started < 2
    listener.close()
    for conn in held:
        conn.close()
