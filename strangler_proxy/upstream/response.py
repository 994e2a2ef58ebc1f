"""An upstream's answer as the transport reads it: head parsed, body framed by RFC 9112 6.3."""

from __future__ import annotations

import re
from collections.abc import Iterator

from strangler_proxy.upstream.connection import (
    MAX_HEAD,
    READ,
    Connection,
    Origin,
    ProtocolError,
    TransportError,
)

# RFC 9112: chunk-size = 1*HEXDIG, Content-Length = 1*DIGIT; int() would also take `0x5`, `+3`,
# `3_0`, ` 3` and non-ASCII digits (`²` even raises), so both are matched first.
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_DECIMAL = re.compile(r"[0-9]{1,18}")


def is_decimal_length(value: str) -> bool:
    """A Content-Length value as RFC 9112 writes it: ASCII digits only."""
    return _DECIMAL.fullmatch(value) is not None


class Headers:
    """Response headers in arrival order; `get` is case-insensitive (first value). `lowered`:
    each name in lower case; `checked`: every name is a token and no value holds CR, LF or
    NUL (each field may be written as it is)."""

    __slots__ = ("_items", "checked", "lowered")

    def __init__(
        self,
        items: list[tuple[str, str]],
        lowered: list[str] | None = None,
        *,
        checked: bool = False,
    ):
        self._items = items
        self.lowered = [name.lower() for name, _ in items] if lowered is None else lowered
        self.checked = checked

    def items(self) -> list[tuple[str, str]]:
        return self._items

    iteritems = items

    def get(self, name: str, default: str | None = None) -> str | None:
        try:
            return self._items[self.lowered.index(name.lower())][1]
        except ValueError:
            return default

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for (_, v), k in zip(self._items, self.lowered, strict=True) if k == name]


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
        # the body's length as framed (0 for HEAD, 204, 304); None: chunked or to the close
        self.content_length = length
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
            conn, left = self._conn, self._left
            if conn is not None and left and not self._done and len(conn.buf) >= left:
                # the whole body came with the head (a small answer): no generators
                self._data, conn.buf = conn.buf[:left], conn.buf[left:]
                self._left, self._done = 0, True
            else:
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
            digits = line.split(b";", 1)[0].rstrip(b" \t")  # BWS before a chunk extension
            if not _CHUNK_SIZE.fullmatch(digits):
                raise ProtocolError("bad chunk size line")
            size = int(digits, 16)
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

    def never_reuse(self) -> None:
        """Close the connection once this answer is read (its request was not fully sent)."""
        self._keep_alive = False

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
