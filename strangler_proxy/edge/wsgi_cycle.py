"""A request uvicorn parsed, answered by the WSGI application straight onto the connection.

Under `STRANGLER_PROXY_SERVER=uvicorn` (with STRANGLER_PROXY_REQUESTS=cooperative, the default)
the proxy's worker skips the ASGI messages between uvicorn's request cycle and the proxy: the
environ is built from the scope uvicorn made (`scope_to_environ`, as under granian), the
application runs in a greenlet on the loop's thread (servicekit.web.cooperative), and its answer
is written here: status line, headers and a buffered body in one write, a streamed body chunk
by chunk (chunked when it has no Content-Length; for an HTTP/1.0 client, ended by the close),
waiting while the client reads slowly and stopping when it goes away. Everything else stays uvicorn's: parsing, keep-alive, pipelining,
`Expect: 100-continue`, flow control and the graceful stop. What that saves per request is in
strangler_proxy/README.md (Performance).

A response header whose name is not a token or whose value holds CR, LF or NUL is never
written (it would split the response): the client gets a 500 problem+json instead, as it does
when the application fails before it answers; once the head is out, a failure closes the
connection (a head without its whole body must not read as a complete answer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from servicekit.web import cooperative
from servicekit.web.problems import problem_response
from strangler_proxy.edge.asgi import WsgiOverAsgi, no_write
from strangler_proxy.edge.headers import writable_name

logger = logging.getLogger("strangler_proxy")

_NO_BODY = frozenset({204, 304})
_STATUS_LINES: dict[str, bytes] = {}
_STATUS_LINES_MAX = 256


async def serve(adapter: WsgiOverAsgi, cycle: RequestResponseCycle) -> None:
    """Answer `cycle`'s request with `adapter.app`, then hand the connection back to uvicorn
    (`cycle.on_response`: the next pipelined request, or the keep-alive timer)."""
    meta = adapter.environ(cycle.scope, cycle.receive)  # type: ignore[arg-type]
    try:
        await cooperative.run(_answer, adapter.app, meta, cycle, executor=adapter.pool)
    except Exception:
        logger.exception("the proxy's application failed")
        if not cycle.response_started and not cycle.disconnected:
            cycle.response_started = True
            cycle.transport.write(
                problem_response(500, "Internal Server Error", "The proxy failed.")
            )
        cycle.transport.close()
        return
    finally:
        cycle.message_event.set()  # a body read still waiting ends (http.disconnect)
    if not cycle.keep_alive:
        cycle.transport.close()
    cycle.on_response()


def _answer(
    app: Callable[..., Iterable[bytes]], meta: dict[str, Any], cycle: RequestResponseCycle
) -> None:
    """In the greenlet: the application called and its answer written."""
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
        if exc_info is not None and cycle.response_started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [(status, headers)]
        return no_write

    result = app(meta, start_response)
    try:
        if cycle.disconnected:
            return
        status, headers = started[0]
        body_allowed = meta["REQUEST_METHOD"] != "HEAD" and int(status[:3]) not in _NO_BODY
        buffered = b"".join(result) if isinstance(result, list) else None
        http10 = meta["SERVER_PROTOCOL"] == "HTTP/1.0"
        if buffered is None and http10:
            cycle.keep_alive = False  # no chunked framing for HTTP/1.0: the close ends the body
        head, length, chunked = _head(
            status,
            headers,
            cycle,
            body_allowed,
            None if buffered is None else len(buffered),
            chunkable=not http10,
        )
        if not body_allowed:
            _finish(cycle, head)
        elif buffered is not None:
            if length != len(buffered):
                cycle.keep_alive = False  # the client cannot tell where this answer ends
            _finish(cycle, head + buffered)
        else:
            _stream(cycle, head, result, chunked, length)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def _head(
    status: str,
    headers: list[tuple[str, str]],
    cycle: RequestResponseCycle,
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
        lower = writable_name(name, value)
        if lower == "content-length":
            length = int(value)
        elif lower == "connection":
            closing = "close" in value.lower()
        elif lower == "transfer-encoding":
            continue  # the framing is this server's to choose
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
        cycle.keep_alive = False
    elif not cycle.keep_alive:
        lines.append(b"Connection: close\r\n")
    lines.append(b"\r\n")
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    return b"".join(lines), length, chunked


def _finish(cycle: RequestResponseCycle, data: bytes) -> None:
    if data and not cycle.disconnected:
        cycle.transport.write(data)
    cycle.response_complete = True


def _stream(
    cycle: RequestResponseCycle,
    head: bytes,
    chunks: Iterable[bytes],
    chunked: bool,
    length: int | None,
) -> None:
    """Each chunk written as it comes, the head with the first; a client that reads slowly is
    waited for, one that left ends it. A body that ends short of its Content-Length (or runs
    past it) closes the connection: the client cannot tell where this answer ends."""
    transport = cycle.transport
    flow = cycle.flow
    pending = head
    sent = 0
    for chunk in chunks:
        if cycle.disconnected:
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
        cycle.keep_alive = False
    _finish(cycle, pending)
