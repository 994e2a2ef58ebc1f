"""A lean HTTP/1.1 client for the hot path: persistent connections, one write per request.

urllib3 spent ~250 µs of CPU per forwarded request (Retry/Timeout objects, http.client's
email-based header parser, several socket writes); this client does what the proxy needs
in a fraction of that: it writes the request in one `sendall`, parses the status line and
headers itself and frames the body by RFC 9112 section 6.3 (no body for HEAD, 1xx, 204 and
304; chunked; Content-Length; else until close). Idle connections wait in a per-origin LIFO;
one the upstream has closed meanwhile is noticed before reuse (poll), and an idempotent
request that meets a connection closed under it is sent once more on a fresh one.

Errors are this transport's own (`TransportError` and its kinds); it knows nothing of routes,
upstream names or retries (strangler_proxy.upstream.forward decides what a failure means).
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
READ = 64 * 1024
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
NO_BODY_EXPECTED = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


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


class _Stale(Exception):
    """A reused connection was closed by the upstream before it answered."""


class Headers:
    """Response headers in arrival order; `get` is case-insensitive (first value)."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]]):
        self._items = items

    def items(self) -> list[tuple[str, str]]:
        return self._items

    iteritems = items

    def get(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for key, value in self._items:
            if key.lower() == name:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self._items if k.lower() == name]


class Connection:
    __slots__ = ("buf", "reused", "sock")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""
        self.reused = False

    def recv(self) -> bytes:
        try:
            data = self.sock.recv(READ)
        except TimeoutError:
            raise ReadTimeout("read timed out") from None
        except OSError as exc:
            raise ProtocolError(f"connection broken: {exc}") from exc
        return data

    def dropped(self) -> bool:
        """An idle connection that is readable has been closed (or sent garbage): not reusable."""
        try:
            return bool(select.select([self.sock], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    def close(self) -> None:
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
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if self.tls else None

    def get(self) -> Connection | None:
        while True:
            with self.lock:
                if not self.idle:
                    return None
                conn = self.idle.pop()
            if not conn.dropped():
                conn.reused = True
                return conn
            conn.close()

    def put(self, conn: Connection) -> None:
        with self.lock:
            if len(self.idle) < self.maxsize:
                self.idle.append(conn)
                return
        conn.close()

    def connect(self, timeout: float | None) -> Connection:
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


class Response:
    """One upstream answer; the body is read with `read()` or `stream()`, then the connection
    goes back to its origin (`release_conn`) or is closed (`close`)."""

    def __init__(
        self,
        origin: Origin,
        conn: Connection,
        status: int,
        reason: str,
        headers: Headers,
        *,
        length: int | None,
        chunked: bool,
        keep_alive: bool,
    ):
        self.origin = origin
        self.status = status
        self.reason = reason
        self.headers = headers
        self._conn: Connection | None = conn
        self._left = length  # bytes still due with Content-Length; None: chunked or to close
        self._chunked = chunked
        self._keep_alive = keep_alive
        self._done = length == 0
        self._data: bytes | None = None

    # -- body --------------------------------------------------------------------------

    def stream(self, amount: int = READ, decode_content: bool = False) -> Iterator[bytes]:
        """The body as it arrives, in pieces of at most `amount` bytes (de-chunked)."""
        if self._data is not None:
            if self._data:
                yield self._data
            return
        pieces = self._chunks() if self._chunked else self._plain()
        for piece in pieces:
            for start in range(0, len(piece), amount):
                yield piece[start : start + amount]

    def read(self, decode_content: bool = False) -> bytes:
        if self._data is None:
            self._data = b"".join(self.stream())
        return self._data

    @property
    def data(self) -> bytes:
        return self.read()

    def _plain(self) -> Iterator[bytes]:
        conn = self._conn
        if conn is None or self._done:
            return
        left = self._left
        if conn.buf:
            piece, conn.buf = conn.buf, b""
            if left is not None:
                piece, conn.buf = piece[:left], piece[left:]
                left -= len(piece)
                self._left = left
            if piece:
                yield piece
        while left is None or left > 0:
            data = conn.recv()
            if not data:
                if left is None:  # delimited by the close
                    break
                raise ProtocolError(f"upstream closed with {left} body bytes missing")
            if left is not None:
                if len(data) > left:
                    conn.buf = data[left:]
                    data = data[:left]
                left -= len(data)
                self._left = left
            yield data
        self._done = True

    def _chunks(self) -> Iterator[bytes]:
        conn = self._conn
        if conn is None or self._done:
            return
        while True:
            line = self._line(conn)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError("bad chunk size line") from None
            if size < 0:
                raise ProtocolError("bad chunk size")
            if size == 0:
                while self._line(conn):  # trailers, dropped
                    pass
                self._done = True
                return
            while size:
                if not conn.buf:
                    conn.buf = conn.recv()
                    if not conn.buf:
                        raise ProtocolError("upstream closed inside a chunk")
                piece = conn.buf[:size]
                conn.buf = conn.buf[size:]
                size -= len(piece)
                yield piece
            if self._line(conn):
                raise ProtocolError("chunk not followed by CRLF")

    @staticmethod
    def _line(conn: Connection) -> bytes:
        while True:
            end = conn.buf.find(b"\n")
            if end >= 0:
                line, conn.buf = conn.buf[:end], conn.buf[end + 1 :]
                return line.rstrip(b"\r")
            if len(conn.buf) > MAX_HEAD:
                raise ProtocolError("chunk framing line too long")
            data = conn.recv()
            if not data:
                raise ProtocolError("upstream closed inside the chunk framing")
            conn.buf += data

    # -- the connection ----------------------------------------------------------------

    def release_conn(self) -> None:
        """Back to the pool when the body was read to its end and both sides keep it alive."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._done and self._keep_alive and not conn.buf:
            conn.reused = False
            self.origin.put(conn)
        else:
            conn.close()

    def drain_conn(self) -> None:
        try:
            for _ in self.stream():
                pass
        except TransportError:
            self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class Client:
    """Connections per origin, shared by a worker's threads."""

    def __init__(self, maxsize: int = 32):
        self.maxsize = maxsize
        self._origins: dict[str, Origin] = {}
        self._lock = threading.Lock()

    def origin(self, base: str) -> Origin:
        origin = self._origins.get(base)
        if origin is None:
            with self._lock:
                origin = self._origins.get(base)
                if origin is None:
                    origin = self._origins[base] = Origin(base, self.maxsize)
        return origin

    def request(
        self,
        base: str,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        *,
        connect_timeout: float | None,
        read_timeout: float | None,
        preload: bool = False,
    ) -> Response:
        """Send one request; `headers` must not hold Content-Length or Transfer-Encoding."""
        origin = self.origin(base)
        lines = [f"{method} {target} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in headers]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        elif method not in NO_BODY_EXPECTED:
            lines.append("Content-Length: 0")
        lines.append("\r\n")
        try:
            payload = "\r\n".join(lines).encode("latin-1")
        except UnicodeEncodeError:
            payload = "\r\n".join(lines).encode("utf-8")
        if body:
            payload += body
        conn = origin.get()
        if conn is not None:
            try:
                response = self._exchange(origin, conn, method, payload, read_timeout)
            except _Stale:
                if method not in IDEMPOTENT:
                    raise ProtocolError("upstream closed a kept-alive connection") from None
                response = None
            if response is not None:
                return self._finish(response, preload)
        conn = origin.connect(connect_timeout)
        try:
            response = self._exchange(origin, conn, method, payload, read_timeout)
        except _Stale:
            raise ProtocolError("upstream closed the connection without answering") from None
        return self._finish(response, preload)

    @staticmethod
    def _finish(response: Response, preload: bool) -> Response:
        if preload:
            try:
                response.read()
            except BaseException:
                response.close()
                raise
            response.release_conn()
        return response

    def _exchange(
        self,
        origin: Origin,
        conn: Connection,
        method: str,
        payload: bytes,
        read_timeout: float | None,
    ) -> Response:
        try:
            conn.sock.settimeout(read_timeout)
            conn.sock.sendall(payload)
        except TimeoutError:
            conn.close()
            raise ReadTimeout("write timed out") from None
        except OSError as exc:
            conn.close()
            if conn.reused:
                raise _Stale from exc
            raise ProtocolError(f"connection broken while sending: {exc}") from exc
        try:
            return self._read_head(origin, conn, method)
        except BaseException:
            conn.close()
            raise

    def _read_head(self, origin: Origin, conn: Connection, method: str) -> Response:
        while True:  # 1xx answers (100 Continue, 103 Early Hints) come before the final one
            buf = conn.buf
            start = 0
            while True:
                end = buf.find(b"\r\n\r\n", start)
                if end >= 0:
                    break
                if len(buf) > MAX_HEAD:
                    raise ProtocolError("response head too large")
                start = max(0, len(buf) - 3)
                try:
                    data = conn.recv()
                except ProtocolError:
                    if conn.reused and not buf:
                        raise _Stale from None
                    raise
                if not data:
                    if conn.reused and not buf:
                        raise _Stale
                    raise ProtocolError("upstream closed the connection before answering")
                buf += data
            head, conn.buf = buf[:end], buf[end + 4 :]
            lines = head.decode("latin-1").split("\r\n")
            version, _, rest = lines[0].partition(" ")
            code, _, reason = rest.partition(" ")
            if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
                raise ProtocolError(f"bad status line {lines[0][:80]!r}")
            status = int(code)
            items: list[tuple[str, str]] = []
            for line in lines[1:]:
                if line[:1] in (" ", "\t") and items:  # obs-fold
                    name, value = items[-1]
                    items[-1] = (name, f"{value} {line.strip()}")
                    continue
                name, sep, value = line.partition(":")
                if not sep or not name or name != name.strip():
                    raise ProtocolError(f"bad header line {line[:80]!r}")
                items.append((name, value.strip(" \t")))
            if 100 <= status < 200 and status != 101:
                continue
            return self._framed(origin, conn, method, version, status, reason, items)

    @staticmethod
    def _framed(origin, conn, method, version, status, reason, items) -> Response:
        length: int | None = None
        chunked = False
        keep_alive = version == "HTTP/1.1"
        lengths = set()
        for name, value in items:
            lower = name.lower()
            if lower == "content-length":
                lengths.add(value)
            elif lower == "transfer-encoding":
                chunked = value.lower().rsplit(",", 1)[-1].strip() == "chunked"
                if not chunked:
                    keep_alive = False  # read to the close
            elif lower == "connection":
                tokens = {t.strip().lower() for t in value.split(",")}
                if "close" in tokens:
                    keep_alive = False
                elif "keep-alive" in tokens:
                    keep_alive = True
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            length, chunked = 0, False
        elif chunked:  # Transfer-Encoding wins over Content-Length (RFC 9112 section 6.3)
            if lengths:
                keep_alive = False  # both: a smuggling smell, never reuse the connection
        elif lengths:
            if len(lengths) > 1:
                raise ProtocolError("conflicting Content-Length headers")
            value = lengths.pop()
            if not value.isdigit():
                raise ProtocolError("bad Content-Length")
            length = int(value)
        elif any(n.lower() == "transfer-encoding" for n, _ in items):
            length = None
        else:
            keep_alive = False  # delimited by the close
        return Response(
            origin,
            conn,
            status,
            reason,
            Headers(items),
            length=length,
            chunked=chunked,
            keep_alive=keep_alive,
        )
