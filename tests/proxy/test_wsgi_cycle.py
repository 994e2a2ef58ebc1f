"""The proxy's WSGI application answering straight onto uvicorn's connection
(strangler_proxy/edge/wsgi_cycle.py, `WsgiProtocol` in strangler_proxy/edge/uvicorn_server.py),
driven in-process over a transport that records what is written: framing (Content-Length,
chunked, HEAD, 204), one write for a buffered answer, keep-alive and pipelining, the continue
interim answer, bodies read in pieces, a client that leaves mid-stream, and what the client
gets when the application fails or answers a header that would split the response."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from strangler_proxy.edge.asgi import WsgiOverAsgi
from strangler_proxy.edge.uvicorn_server import WsgiProtocol
from tests.proxy.protocol_driver import Transport, drive

GET = b"GET /api/v1/products/7/ HTTP/1.1\r\nHost: shop\r\n\r\n"


def _served(app: Callable, reads: Iterable[bytes], *, lose_after: int | None = None) -> list[Any]:
    """What the protocol wrote for `reads` (each its own read); with `lose_after`, the
    connection is lost once that many writes were made (writes after it are recorded)."""
    adapter = WsgiOverAsgi(app, threads=2, body_timeout=2.0)
    protocol_class = type("Wsgi", (WsgiProtocol,), {"adapter": adapter})
    try:
        return drive(
            protocol_class, adapter, reads, transport=Transport(strict=False), lose_after=lose_after
        )
    finally:
        adapter.pool.shutdown(wait=False)


def _app(*chunks: bytes, status: str = "200 OK", length: bool = True, headers=()):
    """A WSGI application answering `chunks` (a list: buffered; else a generator)."""
    closed: list[bool] = []

    def app(environ, start_response):
        environ["wsgi.input"].read()
        sent = [("Content-Type", "application/json"), *headers]
        if length:
            sent.append(("Content-Length", str(sum(map(len, chunks)))))
        start_response(status, sent)
        if len(chunks) == 1:
            return [chunks[0]]
        return _generated(chunks, closed)

    app.closed = closed  # type: ignore[attr-defined]
    return app


def _generated(chunks: Iterable[bytes], closed: list[bool]) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        closed.append(True)


def _head(event: bytes) -> bytes:
    return event.split(b"\r\n\r\n", 1)[0].lower()


def test_a_buffered_answer_leaves_in_one_write_and_the_connection_stays_open():
    events = _served(_app(b'{"id": 7}'), [GET])

    assert events == [events[0], "close"]  # (the close: the connection lost at the end)
    assert events[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 9" in _head(events[0])
    assert b"connection" not in _head(events[0])
    assert events[0].endswith(b'\r\n\r\n{"id": 7}')


def test_a_kept_alive_connection_serves_the_next_request_and_pipelined_ones_in_order():
    events = _served(_app(b"one"), [GET + b"GET /b HTTP/1.1\r\nHost: shop\r\n\r\n", GET])

    answers = [e for e in events if e != "close"]
    assert len(answers) == 3
    assert all(a.startswith(b"HTTP/1.1 200 OK\r\n") and a.endswith(b"one") for a in answers)


def test_a_buffered_answer_without_a_length_is_given_one():
    events = _served(_app(b"abc", length=False), [GET])

    assert b"content-length: 3" in _head(events[0])
    assert b"transfer-encoding" not in _head(events[0])


def test_a_head_request_and_a_204_get_their_head_alone():
    head = _served(_app(b'{"id": 7}'), [b"HEAD /x HTTP/1.1\r\nHost: shop\r\n\r\n"])
    empty = _served(_app(b"", status="204 No Content", length=False), [GET])

    assert head[0].endswith(b"\r\n\r\n") and b"content-length: 9" in _head(head[0])
    assert empty[0].endswith(b"\r\n\r\n") and b"content-length" not in _head(empty[0])
    assert empty[0].startswith(b"HTTP/1.1 204 No Content\r\n")


def test_a_closing_connection_gets_the_whole_answer_then_the_close():
    request = b"GET /x HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n"

    events = _served(_app(b"abc"), [request])

    assert events == [events[0], "close"]
    assert events[0].endswith(b"\r\n\r\nabc") and b"connection: close" in _head(events[0])


def test_the_applications_own_connection_close_closes_after_the_answer():
    events = _served(
        _app(b"bad", status="400 Bad Request", headers=[("Connection", "close")]), [GET, GET]
    )

    assert events == [events[0], "close"]
    assert events[0].startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_a_streamed_answer_is_chunked_its_first_chunk_with_the_head():
    app = _app(b"first", b"", b"second", length=False)

    events = _served(app, [GET])

    assert b"transfer-encoding: chunked" in _head(events[0])
    assert events[0].endswith(b"\r\n\r\n5\r\nfirst\r\n")
    assert events[1:] == [b"6\r\nsecond\r\n", b"0\r\n\r\n", "close"]
    assert app.closed == [True]


def test_an_http_1_0_client_gets_a_streamed_answer_unchunked_ended_by_the_close():
    events = _served(_app(b"first", b"second", length=False), [b"GET /x HTTP/1.0\r\n\r\n"])

    assert b"transfer-encoding" not in _head(events[0])
    assert b"connection: close" in _head(events[0])
    assert b"".join(e for e in events if e != "close").endswith(b"\r\n\r\nfirstsecond")
    assert events[-1] == "close"


def test_a_streamed_answer_with_a_length_is_sent_as_is():
    events = _served(_app(b"ab", b"cd"), [GET])

    assert b"content-length: 4" in _head(events[0])
    assert events[0].endswith(b"\r\n\r\nab") and events[1:] == [b"cd", "close"]


def test_a_stream_that_ends_short_of_its_length_closes_the_connection():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "10")])
        return iter([b"abc"])

    events = _served(app, [GET, GET])

    assert events[0].endswith(b"\r\n\r\nabc")
    assert events[1:] == ["close"]  # the second request never answered on this connection


def test_a_client_that_leaves_mid_stream_ends_the_stream():
    app = _app(*[b"x" * 10] * 50, length=False)

    events = _served(app, [GET], lose_after=3)

    assert events.index("close") == len(events) - 1  # nothing written once the client left
    assert len(events) < 10 and app.closed == [True]


class SlowReader(Transport):
    """A client that reads slowly: once 64 KB wait unread the protocol is told to pause
    writing, and to resume a few turns of the loop later (all read by then)."""

    def __init__(self) -> None:
        super().__init__(strict=False)
        self.unread = 0
        self.most_unread = 0
        self.pauses = 0

    def write(self, data: bytes) -> None:
        super().write(data)
        self.unread += len(data)
        self.most_unread = max(self.most_unread, self.unread)
        if self.unread > 65536 and not self.protocol.flow.write_paused:
            self.pauses += 1
            self.protocol.pause_writing()
            asyncio.get_running_loop().call_soon(self._read_all, 3)

    def _read_all(self, turns: int) -> None:
        if turns:  # (slower than one turn of the loop)
            asyncio.get_running_loop().call_soon(self._read_all, turns - 1)
            return
        self.unread = 0
        self.protocol.resume_writing()


def test_a_slow_reader_is_waited_for_not_buried():
    chunks = [bytes([65 + i % 26]) * 16384 for i in range(40)]  # 640 KB
    adapter = WsgiOverAsgi(_app(*chunks, length=False), threads=2, body_timeout=2.0)
    protocol_class = type("Wsgi", (WsgiProtocol,), {"adapter": adapter})
    reader = SlowReader()

    events = drive(protocol_class, adapter, [GET], transport=reader)
    adapter.pool.shutdown(wait=False)

    wire = b"".join(e for e in events if e != "close")
    _head_bytes, _, chunked = wire.partition(b"\r\n\r\n")
    body, rest = b"", chunked
    while True:
        size, _, rest = rest.partition(b"\r\n")
        if int(size, 16) == 0:
            break
        body, rest = body + rest[: int(size, 16)], rest[int(size, 16) + 2 :]
    assert body == b"".join(chunks)
    assert reader.pauses >= 9  # it waited each time the reader fell behind...
    assert reader.most_unread <= 65536 + 16384 + 512  # ...and wrote nothing more meanwhile


def test_the_continue_interim_answer_comes_when_the_body_is_read():
    request = (
        b"POST /api/v1/orders/ HTTP/1.1\r\nHost: shop\r\nContent-Length: 2\r\n"
        b"Expect: 100-continue\r\n\r\n"
    )

    events = _served(_app(b"ok"), [request, b"{}"])

    assert events[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert events[1].startswith(b"HTTP/1.1 200 OK\r\n") and events[1].endswith(b"ok")


def test_a_body_arriving_in_pieces_is_read_whole():
    def echo(environ, start_response):
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    head = b"POST /x HTTP/1.1\r\nHost: shop\r\nContent-Length: 12\r\n\r\n"
    events = _served(echo, [head + b"hello", b" ", b"world!"])

    assert events[0].endswith(b"\r\n\r\nhello world!")


def _problem(event: bytes) -> tuple[int, dict]:
    head, _, body = event.partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower()
    return int(head.split()[1]), json.loads(body)


def test_an_application_that_fails_before_answering_gets_a_500_problem():
    def app(environ, start_response):
        raise RuntimeError("boom")

    events = _served(app, [GET])

    status, problem = _problem(events[0])
    assert status == 500 and "boom" not in json.dumps(problem)
    assert events[1:] == ["close"]


def test_a_stream_that_fails_midway_closes_without_the_last_chunk():
    def app(environ, start_response):
        start_response("200 OK", [])

        def chunks():
            yield b"part"
            raise RuntimeError("upstream went away")

        return chunks()

    events = _served(app, [GET])

    assert events[0].endswith(b"4\r\npart\r\n")
    assert events[1:] == ["close"]


@pytest.mark.parametrize(
    "header",
    [
        ("X-Evil", "a\r\nSet-Cookie: stolen=1"),
        ("X-Evil", "a\nb"),
        ("X Bad", "v"),
        ("X-Nul", "\x00"),
    ],
)
def test_a_header_that_would_split_the_response_is_never_written(header):
    events = _served(_app(b"{}", headers=[header]), [GET])

    status, _problem_body = _problem(events[0])
    assert status == 500
    assert b"stolen" not in events[0] and b"X Bad" not in events[0]
    assert events[1:] == ["close"]


def _wsgi_protocol(app: Callable) -> tuple[type, WsgiOverAsgi]:
    adapter = WsgiOverAsgi(app, threads=2, body_timeout=2.0)
    return type("Wsgi", (WsgiProtocol,), {"adapter": adapter}), adapter


@pytest.mark.parametrize(
    ("keep_alive", "closed_by_the_server"), [(0.05, True), (5.0, False)], ids=["short", "long"]
)
def test_an_idle_kept_alive_connection_is_closed_once_the_keep_alive_time_passes(
    keep_alive, closed_by_the_server
):
    protocol_class, adapter = _wsgi_protocol(_app(b"ok"))
    transport = Transport(strict=False)

    events = drive(
        protocol_class,
        adapter,
        [GET],
        transport=transport,
        linger=0.4,
        timeout_keep_alive=keep_alive,
    )
    adapter.pool.shutdown(wait=False)

    assert events[0].endswith(b"ok") and events[1:] == ["close"]
    assert transport.closed_at is not None and transport.lost_at is not None
    assert (transport.closed_at < transport.lost_at) is closed_by_the_server


def test_a_graceful_stop_lets_the_request_in_flight_finish_then_closes():
    from servicekit.web import cooperative

    def slow(environ, start_response):
        for _ in range(3):  # (turns of the loop: the stop comes meanwhile)
            cooperative.wait(asyncio.sleep(0))
        start_response("200 OK", [("Content-Length", "4")])
        return [b"done"]

    protocol_class, adapter = _wsgi_protocol(slow)
    stopped: list[bool] = []

    def stop(protocol) -> None:
        protocol.shutdown()  # what uvicorn's server does to each connection as it stops
        stopped.append(protocol.transport.is_closing())

    events = drive(protocol_class, adapter, [GET], during=stop)
    adapter.pool.shutdown(wait=False)

    assert stopped == [False]  # not cut off: the request in flight goes on
    assert events[0].endswith(b"done") and b"connection: close" in _head(events[0])
    assert events[1:] == ["close"]


def test_an_upgrade_request_is_answered_as_plain_http():
    request = (
        b"GET /ws HTTP/1.1\r\nHost: shop\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )

    events = _served(_app(b"plain"), [request])

    assert events[0].startswith(b"HTTP/1.1 200 OK\r\n") and events[0].endswith(b"plain")


REQUESTS = [
    GET,
    b"GET /a%2Fb/%E2%82%AC;p?q=%2F&r=1 HTTP/1.1\r\nHost: shop\r\n\r\n",
    b"GET http://shop:8000/abs/path?x=1 HTTP/1.1\r\nHost: shop:8000\r\n\r\n",
    b"GET /x HTTP/1.0\r\nX-Trailing: spaced \t\r\n\r\n",
    (
        b"POST /orders/ HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\nX_Under: dropped\r\nAccept: a\r\naccept: b\r\n"
        b"Cookie: c=1\r\nCOOKIE: d=2\r\nX-Latin: caf\xe9\r\nExpect: 100-continue\r\n\r\n{}"
    ),
]


@pytest.mark.parametrize("request_bytes", REQUESTS, ids=range(len(REQUESTS)))
def test_the_environ_is_the_one_built_from_uvicorns_scope(request_bytes):
    """The environ made as the head is parsed is the one `scope_to_environ` makes from the
    ASGI scope uvicorn builds for the same bytes (the granian path's builder)."""
    from strangler_proxy.edge.asgi import scope_to_environ
    from strangler_proxy.edge.uvicorn_server import HeadDeadlineProtocol

    seen: list[dict] = []

    def wsgi(environ, start_response):
        environ["wsgi.input"].read()
        seen.append({k: v for k, v in environ.items() if k != "wsgi.input"})
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    scopes: list[dict] = []

    async def asgi(scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        scopes.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    _served(wsgi, [request_bytes])
    drive(HeadDeadlineProtocol, asgi, [request_bytes])

    assert len(seen) == 1 and len(scopes) == 1
    expected = scope_to_environ(scopes[0], WsgiOverAsgi(wsgi, threads=1).base)
    assert seen[0] == expected


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: shop\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\n" + b"X-F: v\r\n" * 101 + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nX-Huge: " + b"v" * 9000 + b"\r\n\r\n", 431),
    ],
    ids=["line", "fields", "field"],
)
def test_the_head_limits_hold_on_this_path_too(request_bytes, status):
    events = _served(_app(b"never"), [request_bytes])

    assert _problem(events[0])[0] == status
    assert b"never" not in b"".join(e for e in events if e != "close")


def test_a_body_read_waits_for_what_is_new_not_for_a_wake_it_already_took():
    """`Exchange.receive`: a piece that came while nobody read is taken at once, and the read
    after it waits for the next piece (no empty message from a wake already taken)."""
    from uvicorn.protocols.http.flow_control import FlowControl

    from strangler_proxy.edge.wsgi_cycle import Exchange

    async def main() -> list[Any]:
        transport = Transport()
        exchange = Exchange(
            transport,
            FlowControl(transport),
            keep_alive=True,
            expect_100_continue=False,
            on_response=lambda: None,
            in_flight=set(),
        )
        first = asyncio.ensure_future(exchange.receive())  # waits: nothing came yet
        await asyncio.sleep(0)
        exchange.body += b"a"
        exchange.wake()
        got = [(await first)["body"]]
        exchange.body += b"b"  # while nobody reads
        exchange.wake()
        got.append((await exchange.receive())["body"])
        third = asyncio.ensure_future(exchange.receive())
        for _ in range(5):
            await asyncio.sleep(0)
        got.append(third.done())  # nothing new: still waiting
        exchange.body += b"c"
        exchange.more_body = False
        exchange.wake()
        message = await third
        got.append((message["body"], message["more_body"]))
        return got

    assert asyncio.run(main()) == [b"a", b"b", False, (b"c", False)]
