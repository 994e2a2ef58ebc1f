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

import threading
from collections.abc import Collection

from strangler_proxy.upstream.connection import (
    MAX_HEAD,
    ConnectError,
    Connection,
    Origin,
    ProtocolError,
    ReadTimeout,
    Stale,
    TransportError,
)
from strangler_proxy.upstream.fields import TOKEN_NAMES, token_lower
from strangler_proxy.upstream.response import Headers, Response, is_decimal_length

__all__ = ["Client", "ConnectError", "ProtocolError", "ReadTimeout", "Response", "TransportError"]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
NO_BODY_EXPECTED = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
# How long to look for an answer already sent when our write of the body broke: it is in the
# socket's buffer by then, or it is not coming.
EARLY_ANSWER_WAIT = 1.0


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
        lines = [f"{method} {target} HTTP/1.1", *map(": ".join, headers)]
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
            except Stale:
                if method not in IDEMPOTENT:
                    raise ProtocolError("upstream closed a kept-alive connection") from None
                response = None
            if response is not None:
                return self._finish(response, preload)
        conn = origin.connect(connect_timeout)
        try:
            response = self._exchange(origin, conn, method, payload, read_timeout)
        except Stale:
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
            conn.set_timeout(read_timeout)
            conn.sendall(payload)
        except TimeoutError:
            conn.close()
            raise ReadTimeout("write timed out") from None
        except OSError as exc:
            early = self._early_answer(origin, conn, method)
            if early is not None:
                return early
            conn.close()
            if conn.reused:
                raise Stale from exc
            raise ProtocolError(f"connection broken while sending: {exc}") from exc
        try:
            return self._read_head(origin, conn, method)
        except BaseException:
            conn.close()
            raise

    def _early_answer(self, origin: Origin, conn: Connection, method: str) -> Response | None:
        """The answer an upstream sent before it stopped reading our body, if one came.

        An app may refuse a request from its head alone (a CSRF or size check) and close
        without reading the body; our write then breaks, but its answer is already on the wire,
        and it is the client's answer (a 403 of the app's, not a 502 of ours). Never reused.
        """
        try:
            conn.set_timeout(EARLY_ANSWER_WAIT)
            response = self._read_head(origin, conn, method)
        except (OSError, TransportError, Stale):
            return None
        response.never_reuse()
        return response

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
                        raise Stale from None
                    raise
                if not data:
                    if conn.reused and not buf:
                        raise Stale
                    raise ProtocolError("upstream closed the connection before answering")
                buf += data
            head, conn.buf = buf[:end], buf[end + 4 :]
            status_line, _, fields = head.decode("latin-1").partition("\r\n")
            version, _, rest = status_line.partition(" ")
            code, _, reason = rest.partition(" ")
            if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
                raise ProtocolError(f"bad status line {status_line[:80]!r}")
            status = int(code)
            if 100 <= status < 200 and status != 101:
                continue
            return self._framed(origin, conn, method, version, status, reason, parse_fields(fields))

    @staticmethod
    def _framed(origin, conn, method, version, status, reason, headers: Headers) -> Response:
        length: int | None = None
        lowered = headers.lowered
        lengths: Collection[str]
        if (
            "transfer-encoding" in lowered
            or lowered.count("connection") > 1
            or lowered.count("content-length") > 1
        ):
            lengths, chunked, keep_alive = _framing(headers.items(), version)
        else:  # (what nearly every answer is: each framing header once at most, not chunked)
            chunked = False
            keep_alive = version == "HTTP/1.1"
            items = headers.items()
            if "connection" in lowered:
                keep_alive = _keep_alive(items[lowered.index("connection")][1], keep_alive)
            lengths = (
                (items[lowered.index("content-length")][1],) if "content-length" in lowered else ()
            )
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            length, chunked = 0, False
        elif chunked:  # Transfer-Encoding wins over Content-Length (RFC 9112 section 6.3)
            if lengths:
                keep_alive = False  # both: a smuggling smell, never reuse the connection
                # the body is de-chunked: its Content-Length must not reach the client
                headers = Headers(
                    [(n, v) for n, v in headers.items() if n.lower() != "content-length"]
                )
        elif lengths:
            if len(lengths) > 1:
                raise ProtocolError("conflicting Content-Length headers")
            value = next(iter(lengths))
            if not is_decimal_length(value):
                raise ProtocolError("bad Content-Length")
            length = int(value)
        elif "transfer-encoding" in lowered:
            length = None
        else:
            keep_alive = False  # delimited by the close
        return Response(
            origin,
            conn,
            status,
            reason,
            headers,
            length=length,
            chunked=chunked,
            keep_alive=keep_alive,
        )


def parse_fields(text: str) -> Headers:
    """The header fields of a response head (`text`: the lines after the status line); a
    ProtocolError for a line that is not a field. `checked` when each name is a token and no
    value holds CR, LF or NUL (obsolete line folding is taken by `fields_one_by_one`)."""
    if not text:
        return Headers([], [], checked=True)
    items: list[tuple[str, str]] = []
    lowered: list[str] = []
    checked = "\x00" not in text
    for line in text.split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():  # (a fold's line starts with a space)
            return fields_one_by_one(text)  # (it says what is wrong, or unfolds the fold)
        if checked and name not in TOKEN_NAMES:
            checked = token_lower(name) is not None
        items.append((name, value.strip(" \t")))
        lowered.append(name.lower())
    # (a lone CR or LF in a value: a line holds one more of it than its end)
    checked = checked and text.count("\r") == text.count("\n") == len(items) - 1
    return Headers(items, lowered, checked=checked)


def fields_one_by_one(text: str) -> Headers:
    """`parse_fields`, for obsolete line folding and lines that are not fields (a
    ProtocolError says which)."""
    items: list[tuple[str, str]] = []
    for line in text.split("\r\n"):
        if line[:1] in (" ", "\t") and items:  # obs-fold
            name, value = items[-1]
            items[-1] = (name, f"{value} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(f"bad header line {line[:80]!r}")
        items.append((name, value.strip(" \t")))
    return Headers(items)


def _keep_alive(connection: str, keep_alive: bool) -> bool:
    """Whether the connection stays open, given a Connection header's value."""
    lower = connection.lower()
    if lower == "keep-alive":  # (what upstreams send)
        return True
    tokens = {t.strip() for t in lower.split(",")}
    if "close" in tokens:
        return False
    if "keep-alive" in tokens:
        return True
    return keep_alive


def _framing(items: list[tuple[str, str]], version: str) -> tuple[set[str], bool, bool]:
    """Every field read for the framing: the Content-Length values, whether the body is
    chunked, whether the connection stays open."""
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
            keep_alive = _keep_alive(value, keep_alive)
    return lengths, chunked, keep_alive
