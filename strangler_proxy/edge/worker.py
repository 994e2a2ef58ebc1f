"""Gunicorn's gthread worker with deadlines: a request's head is gathered by the event loop.

Stock gthread hands a connection to a worker thread as soon as its first byte arrives; the
thread then blocks in the header parser, so forty clients that each send half a header line
hold every thread (slowloris). Here the head (up to the blank line) is read without blocking
by the worker's event loop, and a thread is only given a request whose head is complete. A
head that has not arrived within `STRANGLER_PROXY_HEADER_TIMEOUT` seconds closes the
connection; once in a thread, every socket read and write has `STRANGLER_PROXY_BODY_TIMEOUT`
seconds (a client that stalls its body gets the proxy's 400 `incomplete_body`).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import time
from functools import partial

from servicekit.web.gunicorn_worker import ProblemThreadWorker

_END_OF_HEAD = b"\r\n\r\n"


class DeadlineThreadWorker(ProblemThreadWorker):
    """`worker_class = "strangler_proxy.edge.worker.DeadlineThreadWorker"` (gunicorn.conf.py).
    What gunicorn refuses itself (a request line over `limit_request_line`: 414; header fields
    over their limits: 431) is answered as problem+json, and the start-up heap is frozen before
    the worker serves, as in every service's worker (servicekit/web/gunicorn_worker.py)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timeout = float(os.environ.get("STRANGLER_PROXY_HEADER_TIMEOUT", "10"))
        self.body_timeout = float(os.environ.get("STRANGLER_PROXY_BODY_TIMEOUT", "30"))
        # Largest head we gather; the parser itself refuses what its limits do not allow.
        self.head_limit = (self.cfg.limit_request_line or 8190) + (
            self.cfg.limit_request_fields or 100
        ) * ((self.cfg.limit_request_field_size or 8190) + 2)
        self.gathering: dict[object, float] = {}  # connection -> deadline (insertion-ordered)

    # --- the head, on the event loop ---------------------------------------------------------

    def enqueue_req(self, conn):
        head = getattr(conn, "head", None)
        if head is not None and getattr(conn, "head_complete", False):
            conn.head_complete = False
            return super().enqueue_req(conn)
        if conn.initialized and conn.parser is not None and conn.parser.unreader.buf.getvalue():
            return super().enqueue_req(conn)  # a pipelined request already read ahead
        conn.head = bytearray()
        conn.head_complete = False
        conn.sock.setblocking(False)
        self.gathering[conn] = time.monotonic() + self.header_timeout
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_head_bytes, conn))
        return None

    def _on_head_bytes(self, conn, sock):
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        conn.head += data
        if _END_OF_HEAD in conn.head or len(conn.head) > self.head_limit:
            self._stop_gathering(conn)
            conn.head_complete = True
            conn.data_ready = True
            self.enqueue_req(conn)

    def _stop_gathering(self, conn):
        self.gathering.pop(conn, None)
        with contextlib.suppress(OSError, KeyError, ValueError):
            self.poller.unregister(conn.sock)

    def _drop(self, conn):
        self._stop_gathering(conn)
        self.nr_conns -= 1
        conn.close()

    def murder_keepalived(self, force=False):
        super().murder_keepalived(force)
        now = time.monotonic()
        for conn, deadline in list(self.gathering.items()):
            if force or deadline <= now:
                self._drop(conn)

    # --- in the thread: hand the gathered head to the parser, then deadlines on the socket --

    def handle(self, conn):
        head = getattr(conn, "head", None)
        if head is not None:
            conn.head = None
            conn.sock.setblocking(True)
            conn.init()
            conn.parser.unreader.unread(bytes(head))
        return super().handle(conn)

    def handle_request(self, req, conn):
        conn.sock.settimeout(self.body_timeout)
        return super().handle_request(req, conn)
