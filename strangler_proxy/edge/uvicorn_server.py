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
- a listening socket per worker with SO_REUSEPORT (`serve`), so the kernel spreads connections
  over the workers: with one shared socket (uvicorn's `--workers`) the first worker to wake
  took 13 of wrk's 16 kept-alive connections.

Forwarding headers are never trusted here (`proxy_headers=False`): the proxy is the edge and
sets X-Forwarded-* itself (strangler_proxy/edge/headers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from typing import Any

import httptools  # noqa: F401  (the parser HttpToolsProtocol runs: an extra of uvicorn's, named here)
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from servicekit.web.problems import problem_response

# A worker that exits on its own is started again, no sooner than this after its last start
# (one that fails while loading is not restarted in a tight loop).
_RESPAWN_INTERVAL = 3.5
# Seconds a stopping worker gives requests in flight before it closes them (granian's
# workers_kill_timeout is the same).
_GRACEFUL_STOP = 30
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class HeadDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request head: from the connection's
    start, and from the first byte of each later request, the head must be complete within
    `head_timeout` seconds, else the connection is closed. (A kept-alive connection that sends
    nothing is closed by uvicorn's own keep-alive timeout.)"""

    head_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._arm_head_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_deadline()

    def on_headers_complete(self) -> None:
        self._cancel_head_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """What httptools cannot parse gets a problem+json 400, as every refusal here (uvicorn's
        own is text/plain), and the connection closed."""
        self.transport.write(problem_response(400, "Bad Request", msg))
        self.transport.close()


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
    uvicorn.Server(config).run(sockets=[sock])


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
                    signal.signal(sig, signal.SIG_DFL)  # until uvicorn sets its own
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
                reserved.close()
                _worker(host, port, head_timeout, loop)
                status = 0
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        children[pid] = time.monotonic()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        if stopping:  # (`stop` ran before the child was recorded)
            os.kill(pid, signal.SIGTERM)

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    for sig in _STOP_SIGNALS:
        signal.signal(sig, stop)
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
    reserved.close()
    return 0
