"""A request uvicorn parsed, answered by the WSGI application straight onto the connection.

Under `STRANGLER_PROXY_SERVER=uvicorn` (with STRANGLER_PROXY_REQUESTS=cooperative, the default)
the proxy's worker skips uvicorn's ASGI request cycle: `WsgiProtocol` (strangler_proxy/edge/
uvicorn_server.py) builds the environ as the head is parsed (with the pieces `scope_to_environ`
uses under granian, strangler_proxy/edge/asgi.py) and hands each request here as an `Exchange`.
The application runs in a greenlet on the loop's thread, started and resumed by callbacks
(`servicekit.web.cooperative.start`: no task per request), and its answer is written here:
status line, headers and a buffered body in one write, a streamed body chunk by chunk (chunked
when it has no Content-Length; for an HTTP/1.0 client, ended by the close), waiting while the
client reads slowly and stopping when it goes away. uvicorn keeps parsing, pipelining, flow
control and the graceful stop. What that saves per request is in strangler_proxy/README.md
(Performance).

A response header whose name is not a token or whose value holds CR, LF or NUL is never
written (it would split the response): the client gets a 500 problem+json instead, as it does
when the application fails before it answers; once the head is out, a failure closes the
connection (a head without its whole body must not read as a complete answer).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from uvicorn.protocols.http.flow_control import FlowControl

from servicekit.web import cooperative
from servicekit.web.problems import problem_response
from strangler_proxy.edge.asgi import WsgiOverAsgi, no_write
from strangler_proxy.edge.headers import unsafe_value, writable_name
from strangler_proxy.upstream.fields import TOKEN_NAMES

logger = logging.getLogger("strangler_proxy")

_NO_BODY = frozenset({204, 304})
_STATUS_LINES: dict[str, bytes] = {}
_STATUS_LINES_MAX = 256


class Exchange:
    """One request on a connection and its answer: what uvicorn's `RequestResponseCycle`
    holds, without the ASGI messages (the names are uvicorn's: its protocol's `shutdown` and
    flow control read them). `receive()` gives the body as uvicorn's cycle does (ASGI
    `http.request` messages, `http.disconnect` once the client left or the answer is done),
    for `wsgi.input`."""

    __slots__ = (
        "_event",
        "_signalled",
        "body",
        "disconnected",
        "flow",
        "in_flight",
        "keep_alive",
        "more_body",
        "on_response",
        "response_complete",
        "response_started",
        "transport",
        "waiting_for_100_continue",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        flow: FlowControl,
        *,
        keep_alive: bool,
        expect_100_continue: bool,
        on_response: Callable[[], None],
        in_flight: set[Any],
    ):
        self.transport = transport
        self.flow = flow
        self.keep_alive = keep_alive
        self.waiting_for_100_continue = expect_100_continue
        self.on_response = on_response
        self.in_flight = in_flight  # uvicorn's tasks: a graceful stop waits until it is left
        self.disconnected = False
        self.response_started = False
        self.response_complete = False
        self.body = bytearray()
        self.more_body = True
        self._signalled = False  # body bytes, the body's end or the client's leaving, unread
        self._event: asyncio.Event | None = None  # made when a read must wait

    def cancel(self, msg: Any = None) -> None:
        """What uvicorn does to the tasks left when a graceful stop runs out of time: the
        connection closes (the application ends at its next write or wait)."""
        self.transport.close()

    def wake(self) -> None:
        """Something for `receive` came (a body piece, the body's end, the client left)."""
        self._signalled = True
        if self._event is not None:
            self._event.set()

    async def receive(self) -> dict[str, Any]:
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        if not self.disconnected and not self.response_complete:
            self.flow.resume_reading()
            if not self._signalled:
                if self._event is None:
                    self._event = asyncio.Event()
                await self._event.wait()
            self._signalled = False
            if self._event is not None:
                self._event.clear()  # (set by a wake that came before this read)
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        body, self.body = bytes(self.body), bytearray()
        return {"type": "http.request", "body": body, "more_body": self.more_body}


def start(adapter: WsgiOverAsgi, exchange: Exchange, meta: dict[str, Any]) -> None:
    """Answer `exchange`'s request (its environ `meta`) with `adapter.app`, in a greenlet on
    this loop's thread; once done, the connection goes back to the protocol
    (`exchange.on_response`: the next pipelined request, or the keep-alive deadline)."""
    cooperative.start(
        _answer,
        adapter.app,
        meta,
        exchange,
        executor=adapter.pool,
        done=functools.partial(_done, exchange),
    )


def _done(exchange: Exchange, result: Callable[[], None]) -> None:
    exchange.in_flight.discard(exchange)
    exchange.wake()  # a body read still waiting ends (http.disconnect)
    try:
        result()
    except Exception:
        logger.exception("the proxy's application failed")
        _abandon(exchange)
        return
    except BaseException:
        _abandon(exchange)
        raise
    if not exchange.keep_alive:
        exchange.transport.close()
    exchange.on_response()


def _abandon(exchange: Exchange) -> None:
    """After a failure: a 500 problem+json if nothing was answered yet, and the close."""
    if not exchange.response_started and not exchange.disconnected:
        exchange.response_started = True
        exchange.transport.write(
            problem_response(500, "Internal Server Error", "The proxy failed.")
        )
    exchange.transport.close()


def _answer(app: Callable[..., Iterable[bytes]], meta: dict[str, Any], exchange: Exchange) -> None:
    """In the greenlet: the application called and its answer written."""
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
        if exc_info is not None and exchange.response_started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [(status, headers)]
        return no_write

    result = app(meta, start_response)
    try:
        if exchange.disconnected:
            return
        status, headers = started[0]
        body_allowed = meta["REQUEST_METHOD"] != "HEAD" and int(status[:3]) not in _NO_BODY
        buffered = b"".join(result) if isinstance(result, list) else None
        http10 = meta["SERVER_PROTOCOL"] == "HTTP/1.0"
        if buffered is None and http10:
            exchange.keep_alive = False  # no chunked framing for HTTP/1.0: the close ends the body
        head, length, chunked = _head(
            status,
            headers,
            exchange,
            body_allowed,
            None if buffered is None else len(buffered),
            chunkable=not http10,
        )
        if not body_allowed:
            _finish(exchange, head)
        elif buffered is not None:
            if length != len(buffered):
                exchange.keep_alive = False  # the client cannot tell where this answer ends
            _finish(exchange, head + buffered)
        else:
            _stream(exchange, head, result, chunked, length)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _head(
    status: str,
    headers: list[tuple[str, str]],
    exchange: Exchange,
    body_allowed: bool,
    buffered: int | None,
    *,
    chunkable: bool,
) -> tuple[bytes, int | None, bool]:
    """The response head, the Content-Length it announces (None: none) and whether the body is
    sent chunked. A buffered body without a Content-Length gets one; a streamed one is chunked
    where the client reads chunks (`chunkable`: HTTP/1.1), else the close ends it."""
    line = _STATUS_LINES.get(status)
    if line is None:
        line = f"HTTP/1.1 {status}\r\n".encode("latin-1")
        if len(_STATUS_LINES) < _STATUS_LINES_MAX:
            _STATUS_LINES[status] = line
    lines = [line]
    length: int | None = None
    closing = False
    for name, value in headers:
        lower = TOKEN_NAMES.get(name)  # (a name known to be a token: no call to check it)
        if lower is None or unsafe_value(value):
            lower = writable_name(name, value)  # (it raises for what may not be written)
        if lower in _FRAMING:
            if lower == "content-length":
                length = int(value)
            elif lower == "connection":
                closing = "close" in value.lower()
            else:
                continue  # Transfer-Encoding: the framing is this server's to choose
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    chunked = False
    if length is None and body_allowed:
        if buffered is not None:
            lines.append(b"Content-Length: %d\r\n" % buffered)
            length = buffered
        elif chunkable:
            lines.append(b"Transfer-Encoding: chunked\r\n")
            chunked = True
    if closing:
        exchange.keep_alive = False
    elif not exchange.keep_alive:
        lines.append(b"Connection: close\r\n")
    lines.append(b"\r\n")
    exchange.response_started = True
    exchange.waiting_for_100_continue = False
    return b"".join(lines), length, chunked


_FRAMING = frozenset({"content-length", "connection", "transfer-encoding"})


def _finish(exchange: Exchange, data: bytes) -> None:
    if data and not exchange.disconnected:
        exchange.transport.write(data)
    exchange.response_complete = True


def _stream(
    exchange: Exchange,
    head: bytes,
    chunks: Iterable[bytes],
    chunked: bool,
    length: int | None,
) -> None:
    """Each chunk written as it comes, the head with the first; a client that reads slowly is
    waited for, one that left ends it. A body that ends short of its Content-Length (or runs
    past it) closes the connection: the client cannot tell where this answer ends."""
    transport = exchange.transport
    flow = exchange.flow
    pending = head
    sent = 0
    for chunk in chunks:
        if exchange.disconnected:
            return
        if not chunk:
            continue
        sent += len(chunk)
        data = b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk
        transport.write(pending + data if pending else data)
        pending = b""
        if flow.write_paused:
            cooperative.wait(flow.drain())
        else:
            cooperative.wait(asyncio.sleep(0))  # a turn of the loop: a disconnect is seen
    if chunked:
        pending += b"0\r\n\r\n"
    elif length is not None and sent != length:
        exchange.keep_alive = False
    _finish(exchange, pending)
