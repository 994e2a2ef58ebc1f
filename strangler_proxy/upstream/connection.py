"""The transport's connections: errors of its own, one socket, idle connections per origin."""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

from servicekit.web import cooperative
from servicekit.web.tls import upstream_ssl_context

MAX_HEAD = 64 * 1024
READ = 64 * 1024
# An idle connection older than this is closed, not reused: gunicorn closes a kept-alive
# connection after 2 s (its default `keepalive`), and a request sent just as it does is lost with
# no answer; a POST without an Idempotency-Key then cannot be retried and the client got a 502
# `upstream_protocol` (tests/e2e/test_live_migration.py met it on a busy machine).
IDLE_MAX = 1.0


class TransportError(Exception):
    """The request could not be exchanged with the upstream; `kind` names the failure."""

    kind = "connect"


class ConnectError(TransportError):
    """The upstream could not be reached (refused, unreachable, connect timeout)."""

    kind = "connect"


class ReadTimeout(TransportError):
    """The upstream took longer than the read timeout."""

    kind = "timeout"


class ProtocolError(TransportError):
    """The upstream broke the connection or the HTTP framing."""

    kind = "protocol"


class Stale(Exception):
    """A reused connection was closed by the upstream before it answered."""


class Connection:
    """One socket to an upstream. Under `servicekit.web.cooperative.run` (the proxy served by
    granian) a plain-TCP socket's waits go to the event loop; a TLS socket's reads and writes
    run in the executor (a record may need more bytes than a readable socket holds)."""

    __slots__ = (
        "asked",
        "buf",
        "idle_since",
        "reused",
        "sock",
        "timeout",
        "tls",
        "wanted",
        "watch",
    )

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""
        self.reused = False
        self.idle_since = 0.0
        self.timeout = sock.gettimeout()  # the socket's own
        self.wanted = self.timeout  # what a wait may last (the read timeout)
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.watch: cooperative.ReadWatch | None = None  # made by its first cooperative wait
        self.asked = False  # a request written cooperatively, nothing read since

    def set_timeout(self, timeout: float | None) -> None:
        self.wanted = timeout

    def _socket_timeout(self, timeout: float | None) -> None:
        """Set only when it changes (each setting is a system call)."""
        if timeout != self.timeout:
            self.sock.settimeout(timeout)
            self.timeout = timeout

    def recv(self) -> bytes:
        try:
            if cooperative.active():
                if self.tls:
                    return cooperative.blocking(self._recv)
                return self._recv_cooperatively()
            return self._recv()
        except TimeoutError:
            raise ReadTimeout("read timed out") from None
        except OSError as exc:
            raise ProtocolError(f"connection broken: {exc}") from exc

    def _recv(self) -> bytes:
        self._socket_timeout(self.wanted)
        return self.sock.recv(READ)

    def _recv_cooperatively(self) -> bytes:
        self._socket_timeout(0.0)
        if self.asked:  # its answer is not here yet: wait first (a recv would fail with EAGAIN)
            self.asked = False
            self._wait_readable()
        while True:
            try:
                return self.sock.recv(READ)
            except BlockingIOError:
                self._wait_readable()

    def _wait_readable(self) -> None:
        watch = self.watch
        if watch is None:
            watch = self.watch = cooperative.ReadWatch(self.sock)
        if not watch.wait(self.wanted):
            raise TimeoutError

    def sendall(self, payload: bytes) -> None:
        """The whole payload written (TimeoutError past the timeout, OSError if broken)."""
        if cooperative.active():
            if self.tls:
                cooperative.blocking(self._sendall, payload)
            else:
                self._sendall_cooperatively(payload)
            return
        self._sendall(payload)

    def _sendall(self, payload: bytes) -> None:
        self._socket_timeout(self.wanted)
        self.sock.sendall(payload)

    def _sendall_cooperatively(self, payload: bytes) -> None:
        self._socket_timeout(0.0)
        view = memoryview(payload)
        while view:
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                if not cooperative.wait_socket(self.sock, write=True, timeout=self.wanted):
                    raise TimeoutError from None
        self.asked = True

    def dropped(self) -> bool:
        """An idle connection that is readable has been closed (or sent garbage): not reusable."""
        try:
            return bool(select.select([self.sock], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        watch, self.watch = self.watch, None
        if watch is not None:
            watch.close()  # unregistered from its loop, then closed
            return
        with contextlib.suppress(OSError):
            self.sock.close()


class Origin:
    """Idle connections to one `scheme://host:port`."""

    def __init__(self, base: str, maxsize: int):
        parts = urlsplit(base)
        self.host = parts.hostname or "localhost"
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.maxsize = maxsize
        self.idle: list[Connection] = []
        self.lock = threading.Lock()
        # https: the system's trust, or the fleet's CA and the proxy's certificate under mTLS
        self._ssl: ssl.SSLContext | None = upstream_ssl_context() if self.tls else None

    def get(self) -> Connection | None:
        while True:
            with self.lock:
                if not self.idle:
                    return None
                conn = self.idle.pop()
            if time.monotonic() - conn.idle_since < IDLE_MAX and not conn.dropped():
                conn.reused = True
                return conn
            conn.close()

    def put(self, conn: Connection) -> None:
        conn.idle_since = time.monotonic()
        with self.lock:
            if len(self.idle) < self.maxsize:
                self.idle.append(conn)
                return
        conn.close()

    def connect(self, timeout: float | None) -> Connection:
        """A new connection (name resolution, connect, TLS handshake: in the executor under
        `cooperative.run`)."""
        return cooperative.blocking(self._connect, timeout)

    def _connect(self, timeout: float | None) -> Connection:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except OSError as exc:
            raise ConnectError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._ssl is not None:
            try:
                sock = self._ssl.wrap_socket(sock, server_hostname=self.host)
            except OSError as exc:
                sock.close()
                raise ConnectError(f"TLS handshake with {self.host} failed: {exc}") from exc
        return Connection(sock)
