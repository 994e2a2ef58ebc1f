"""The proxy under uvicorn (`STRANGLER_PROXY_SERVER=uvicorn`): one thread per worker, no
hand-off between threads per request.

Under granian each request crosses threads three times: granian's Rust runtime parses it, a
thread holding the GIL schedules it onto the event loop's thread, and the answer goes back to
the Rust thread. On a machine whose idle CPUs sleep (a virtual machine without halt polling)
each wake-up costs tens of µs; uvicorn (httptools, uvloop) parses and answers on the loop's own
thread (PERFORMANCE in strangler_proxy/README.md measures both). What uvicorn lacks, this adds:

- a problem+json 400 for what is not HTTP/1.1 (uvicorn's own is text/plain), as gunicorn's
  worker gives (servicekit/web/gunicorn_worker.py);
- a deadline for every request head (`HeadDeadlineProtocol`, STRANGLER_PROXY_HEADER_TIMEOUT, as
  granian's `header_read_timeout`): a connection whose head is not complete in time is closed,
  so slow heads (slowloris) cannot pile up; the body's deadline is the ASGI adapter's, as under
  granian;
- limits on a request head (`HeadDeadlineProtocol`; the numbers are gunicorn's defaults, in
  strangler_proxy/edge/headers.py): httptools takes a head of any size, and uvicorn keeps all of
  it (a 20 MB header was read whole and forwarded); a request line or a header field over its
  limit is refused (414, 431) as it arrives, an unfinished head once it passes HEAD_LIMIT;
- each response's head written together with its first body bytes: uvicorn writes them apart,
  one more TCP segment and one more wake-up of the client per response;
- with cooperative requests (the default), the proxy's WSGI application answering each request
  straight onto the connection (`WsgiProtocol`, strangler_proxy/edge/wsgi_cycle.py): the
  environ built as the head is parsed, no ASGI scope, cycle, messages or task per request, and
  one timer per connection for the keep-alive wait (uvicorn makes and cancels one per request);
  in a thread pool (`threads`) through uvicorn's ASGI cycle and the adapter (`OneWriteCycle`
  keeps the one write there);
- a listening socket per worker with SO_REUSEPORT (`serve`), so the kernel spreads connections
  over the workers: with one shared socket (uvicorn's `--workers`) the first worker to wake
  took 13 of wrk's 16 kept-alive connections.

Forwarding headers are never trusted here (`proxy_headers=False`): the proxy is the edge and
sets X-Forwarded-* itself (strangler_proxy/edge/headers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from typing import Any

import httptools  # the parser HttpToolsProtocol runs (an extra of uvicorn's)
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from servicekit.web.deadline import Deadline
from servicekit.web.problems import problem_response
from strangler_proxy.edge import wsgi_cycle
from strangler_proxy.edge.asgi import WsgiOverAsgi, add_header, add_target, connection_environ
from strangler_proxy.edge.headers import (
    FIELD_LIMIT,
    FIELDS_LIMIT,
    FIELDS_TOO_LARGE,
    LINE_LIMIT,
    TooLarge,
    field_too_large,
    target_too_long,
    too_many_fields,
)

# A worker that exits on its own is started again, no sooner than this after its last start
# (one that fails while loading is not restarted in a tight loop).
_RESPAWN_INTERVAL = 3.5
# Seconds a stopping worker gives requests in flight before it closes them (granian's
# workers_kill_timeout is the same).
_GRACEFUL_STOP = 30
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


# While stopping, the main process sends its workers SIGTERM again this often: a worker whose
# first one was lost still stops (a stop signal's exception raised inside a callback or a
# finalizer is swallowed there: "Exception in callback", "Exception ignored in").
_STOP_RESEND = 1.0


class _Stopped(BaseException):
    """A worker's stop signal, raised where it arrives: while the application loads (before
    uvicorn sets its handlers), or as uvicorn ends, which raises the signal it caught again
    once the old handler (this one) is back, to end the process as that signal would."""


_stop_requested = False  # a worker's: set by its first stop signal, whatever became of the raise


def _stopped(signum: int, frame: Any) -> None:
    global _stop_requested
    _stop_requested = True
    raise _Stopped


def _server_class():
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            with super().capture_signals():
                # a stop signal that came before uvicorn's handlers, its exception swallowed
                # (asyncio's callbacks log and go on): uvicorn stops at once, as if it came now
                if _stop_requested:
                    self.handle_exit(signal.SIGTERM, None)
                yield

    return Server


# What httptools holds of one unfinished head (it takes a head of any size, and uvicorn keeps
# all of it): gunicorn's own bound from the same limits.
HEAD_LIMIT = LINE_LIMIT + FIELDS_LIMIT * (FIELD_LIMIT + 2)


class HeadDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with a deadline and limits for each request head: from the
    connection's start, and from the first byte of each later request, the head must be
    complete within `head_timeout` seconds, else the connection is closed (a kept-alive
    connection that sends nothing is closed by uvicorn's own keep-alive timeout); a request line
    over LINE_LIMIT bytes is refused with 414, more than FIELDS_LIMIT header fields, one over
    FIELD_LIMIT bytes or a head over HEAD_LIMIT with 431, as problem+json. Each response leaves
    in as few writes as uvicorn allows (`OneWriteCycle`)."""

    head_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # one timer per connection, not one per request (servicekit/web/deadline.py)
        self._head_deadline = Deadline(self.loop, self._head_too_slow)
        self._refused: TooLarge | None = None
        self._head_bytes = 0  # of the head under way (-1: none is; a body or nothing is read)
        self._fields = 0
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        if self._head_bytes >= 0:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._head_bytes > HEAD_LIMIT and not self.transport.is_closing():
            # (what httptools holds of an unfinished head: at most this and one read more)
            self._refuse(TooLarge(431, FIELDS_TOO_LARGE, f"the head is over {HEAD_LIMIT} bytes"))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begins()

    def _head_begins(self) -> None:
        self._arm_head_deadline()
        self._head_bytes = max(self._head_bytes, 0)
        self._fields = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > LINE_LIMIT:
            self._over(target_too_long(len(self.url)))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_field(name, value)
        super().on_header(name, value)

    def _count_field(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        if self._fields > FIELDS_LIMIT:
            self._over(too_many_fields())
        if len(name) + len(value) + 2 > FIELD_LIMIT:
            self._over(field_too_large(name.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self._head_ends()
        super().on_headers_complete()
        self.cycle.__class__ = OneWriteCycle  # built by uvicorn's own code, not yet running

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_deadline.close()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        self._head_deadline.start(self.head_timeout)

    def _cancel_head_deadline(self) -> None:
        self._head_deadline.stop()

    def _head_ends(self) -> None:
        self._cancel_head_deadline()
        self._head_bytes = -1

    def _head_too_slow(self) -> None:
        self.transport.close()

    def _over(self, refused: TooLarge) -> None:
        """From a parser callback: the parser stops (httptools raises its own error, which
        uvicorn answers through `send_400_response`), and this refusal is the answer."""
        self._refused = refused
        raise refused

    def send_400_response(self, msg: str) -> None:
        """What httptools cannot parse gets a problem+json 400, as every refusal here (uvicorn's
        own is text/plain), and the connection closed; a head over a limit its 414 or 431."""
        if self._refused is not None:
            self._refuse(self._refused)
            return
        self.transport.write(problem_response(400, "Bad Request", msg))
        self.transport.close()

    def _refuse(self, refused: TooLarge) -> None:
        self._cancel_head_deadline()
        self.transport.write(problem_response(refused.status, refused.reason, str(refused)))
        self.transport.close()


class WsgiProtocol(HeadDeadlineProtocol):
    """`HeadDeadlineProtocol` serving the WSGI application behind `adapter` (the ASGI adapter
    the worker loaded) directly: the environ is built as the head is parsed (no ASGI scope),
    each request is a `wsgi_cycle.Exchange` answered by strangler_proxy/edge/wsgi_cycle.py
    (no ASGI messages, no task), and the keep-alive wait between requests is the head's
    deadline, started for `timeout_keep_alive` (one timer per connection, not one per
    request). uvicorn's own parts stay: the parser and its errors, pipelining (a request that
    comes before the last one's answer waits, reading paused), flow control and the graceful
    stop (`shutdown`)."""

    adapter: WsgiOverAsgi

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # what every request on this connection starts from
        self._base = connection_environ(self.adapter.base, self.server, self.client, self.scheme)

    def on_message_begin(self) -> None:
        self._head_begins()
        self.url = b""
        self.expect_100_continue = False
        self._meta: dict[str, Any] = self._base.copy()  # the request's environ, as it is parsed

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_field(name, value)
        # llhttp keeps trailing whitespace, which RFC 9110 section 5.5 excludes from a value
        value = value.rstrip(b" \t")
        if len(name) == 6 and name.lower() == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        add_header(self._meta, name, value)

    def on_headers_complete(self) -> None:
        self._head_ends()
        parser = self.parser
        meta = self._meta
        version = parser.get_http_version()
        meta["REQUEST_METHOD"] = parser.get_method().decode("ascii")
        meta["SERVER_PROTOCOL"] = "HTTP/" + version
        url = httptools.parse_url(self.url)
        add_target(meta, url.path, url.query or b"")
        exchange = wsgi_cycle.Exchange(
            self.transport,
            self.flow,
            keep_alive=version != "1.0" and parser.should_keep_alive(),
            expect_100_continue=self.expect_100_continue,
            on_response=self.on_response_complete,
            in_flight=self.tasks,
        )
        meta["wsgi.input"] = self.adapter.body(exchange.receive, self.loop)
        previous, self.cycle = self.cycle, exchange  # type: ignore[assignment]
        if previous is None or previous.response_complete:
            self._start(exchange, meta)
        else:  # pipelined: it waits for the answers before it, reading paused
            self.flow.pause_reading()
            self.pipeline.appendleft((exchange, meta))  # type: ignore[arg-type]

    def _start(self, exchange: wsgi_cycle.Exchange, meta: dict[str, Any]) -> None:
        self.tasks.add(exchange)  # type: ignore[arg-type]  # left in `wsgi_cycle._done`
        # on the loop's next turn, not inside the parser's callback
        self.loop.call_soon(wsgi_cycle.start, self.adapter, exchange, meta)

    def on_body(self, body: bytes) -> None:
        exchange = self.cycle
        if exchange.response_complete:
            return
        exchange.body += body
        if len(exchange.body) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        exchange.wake()  # type: ignore[attr-defined]

    def on_message_complete(self) -> None:
        exchange = self.cycle
        if exchange.response_complete:
            return
        exchange.more_body = False
        exchange.wake()  # type: ignore[attr-defined]

    def on_response_complete(self) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            self._start(*self.pipeline.pop())  # type: ignore[arg-type]
        else:
            self._head_deadline.start(self.timeout_keep_alive)

    def _should_upgrade(self) -> bool:
        return False  # no WebSocket here: an Upgrade request is answered as plain HTTP

    def connection_lost(self, exc: Exception | None) -> None:
        exchange = self.cycle
        if exchange is not None:
            if not exchange.response_complete:
                exchange.disconnected = True
            exchange.wake()  # type: ignore[attr-defined]
            self.cycle = None  # type: ignore[assignment]  # (uvicorn's would look for an event)
        super().connection_lost(exc)


class _Held:
    """Stands in for the transport while uvicorn writes a response head: keeps the bytes."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data


class _HeadFirst:
    """The transport, with a held response head put in front of the next write (or written
    before the connection closes)."""

    __slots__ = ("_transport", "head")

    def __init__(self, transport: asyncio.Transport, head: bytes):
        self._transport = transport
        self.head = head

    def write(self, data: bytes) -> None:
        head, self.head = self.head, b""
        self._transport.write(head + data if head else data)

    def close(self) -> None:
        if self.head:
            self.write(b"")
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteCycle(RequestResponseCycle):
    """uvicorn's request-response cycle with the response head and the first body bytes sent
    in one write: one TCP segment and one wake-up of the client where uvicorn makes two."""

    _head = b""

    async def send(self, message: Any) -> None:
        transport = self.transport
        if message["type"] == "http.response.start" and not self.response_started:
            held = _Held()
            self.transport = held  # type: ignore[assignment]
            try:
                await super().send(message)
            finally:
                self.transport = transport
            self._head = held.data
            return
        if not self._head:
            await super().send(message)
            return
        first = _HeadFirst(transport, self._head)
        self._head = b""
        self.transport = first  # type: ignore[assignment]
        try:
            await super().send(message)
        finally:
            self.transport = transport
            if first.head:  # nothing written (a HEAD request's body): the head alone
                first.write(b"")


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(host: str, port: int, head_timeout: float, loop: str) -> None:
    """One worker process: its own listening socket, the application loaded (and its start-up
    heap frozen, as under granian), uvicorn serving until SIGTERM or SIGINT."""
    import uvicorn

    from servicekit.web.commands import freeze_startup_heap
    from strangler_proxy.asgi import application

    sock = _listen(host, port)
    sock.listen(1024)
    freeze_startup_heap()
    # cooperative requests (the default): the WSGI application answers on the loop's thread,
    # without ASGI messages; in a thread pool (`threads`) it is served through the adapter
    if application.cooperative:
        protocol = type(
            "Wsgi", (WsgiProtocol,), {"head_timeout": head_timeout, "adapter": application}
        )
    else:
        protocol = type("HeadDeadline", (HeadDeadlineProtocol,), {"head_timeout": head_timeout})
    config = uvicorn.Config(
        application,
        loop=loop,
        http=protocol,
        lifespan="off",
        proxy_headers=False,
        server_header=False,
        date_header=False,
        access_log=False,
        log_config=None,  # the project's logging (servicekit), set up as the application loaded
        log_level="warning",
        timeout_graceful_shutdown=_GRACEFUL_STOP,
    )
    if _stop_requested:
        raise _Stopped
    _server_class()(config).run(sockets=[sock])


def serve(host: str, port: int, *, workers: int, head_timeout: float, loop: str = "auto") -> int:
    """Start `workers` processes, start again one that exits on its own, and stop them all on
    SIGTERM or SIGINT (each finishes its requests in flight, up to `_GRACEFUL_STOP` seconds).
    `loop`: uvicorn's (auto: uvloop when installed, as it is with the proxy; uvloop; asyncio)."""
    try:
        # bound, never listening: the port is ours (a clear error if it is taken), and this
        # socket takes no connections from the workers' group
        reserved = _listen(host, port)
    except OSError as exc:
        raise SystemExit(f"cannot bind {host}:{port}: {exc.strerror}") from None
    children: dict[int, float] = {}  # pid -> when it was started
    stopping = False

    def start() -> None:
        # Stop signals wait while a worker is forked: the child must not run the parent's
        # handler (it would go on to serve, the signal lost), and the parent records the
        # child before `stop` can run.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                for sig in _STOP_SIGNALS:
                    signal.signal(sig, _stopped)  # until uvicorn sets its own, and after
                signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the main process's resend
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
                reserved.close()
                _worker(host, port, head_timeout, loop)
                status = 0
            except _Stopped:
                status = 0
            finally:
                # another stop signal must not interrupt this: it would raise out of the worker
                # into the main process's loop, in the child
                signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
                logging.shutdown()  # what atexit would do: held log lines written (os._exit skips it)
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        children[pid] = time.monotonic()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        if stopping:  # (`stop` ran before the child was recorded)
            os.kill(pid, signal.SIGTERM)

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        if not stopping:  # then again every _STOP_RESEND seconds until they are gone
            signal.setitimer(signal.ITIMER_REAL, _STOP_RESEND, _STOP_RESEND)
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    for sig in _STOP_SIGNALS:
        signal.signal(sig, stop)
    signal.signal(signal.SIGALRM, stop)
    for _ in range(workers):
        start()
    while children:
        try:
            pid, _status = os.wait()
        except ChildProcessError:
            break
        started = children.pop(pid, None)
        if started is None or stopping:
            continue
        time.sleep(max(0.0, started + _RESPAWN_INTERVAL - time.monotonic()))
        if not stopping:
            start()
    signal.setitimer(signal.ITIMER_REAL, 0)
    reserved.close()
    return 0
