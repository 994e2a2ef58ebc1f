"""The WSGI proxy served over an ASGI server (granian): the raw target and raw header names.

Granian's own WSGI interface hands over only a percent-decoded PATH_INFO (an encoded slash
cannot be told from a separator, `%3B` comes back as `;`), folds `X_Foo` into `X-Foo`, and
blanks header values that are not ASCII. Its ASGI scope keeps what the client sent
(`raw_path`, `query_string`, header names and values as bytes), so the environ built here is
the one gunicorn builds: `RAW_URI` the target as sent, PATH_INFO decoded to latin-1, header
names with an underscore dropped (gunicorn's `header_map = "drop"`), repeated headers joined
with a comma. A request body is pulled from the event loop as the application reads it, each
read under `body_timeout` seconds (a stalled body reads short, which the proxy answers with its
400 `incomplete_body`).

Where the application runs (`requests=`): `cooperative` (the default) on the event loop's own
thread, in a greenlet whose socket waits go to the loop (servicekit.web.cooperative: the
proxy's upstream sockets wait there; Redis, DNS, connect and TLS run in the pool); `threads`
each request in a pool thread, which costs a thread hand-off and an event-loop wake-up from
another thread per request, and the GIL passed between threads while it runs.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_to_bytes

from servicekit.web import cooperative

REQUEST_MODES = ("cooperative", "threads")


def request_mode() -> str:
    """STRANGLER_PROXY_REQUESTS: `cooperative` (the default) or `threads` (ValueError naming
    anything else)."""
    mode = os.environ.get("STRANGLER_PROXY_REQUESTS", "cooperative")
    if mode not in REQUEST_MODES:
        raise ValueError(
            f"STRANGLER_PROXY_REQUESTS={mode!r}: expected {' or '.join(REQUEST_MODES)}"
        )
    return mode


_HEADER_KEYS: dict[bytes, str | None] = {}  # header name as sent -> environ key (None: dropped)
_HEADER_KEYS_MAX = 4096


def environ_key(name: bytes) -> str | None:
    """`content-type` -> CONTENT_TYPE, `x-foo` -> HTTP_X_FOO; None for a name with `_`."""
    key = _HEADER_KEYS.get(name)
    if key is not None or name in _HEADER_KEYS:
        return key
    if b"_" in name:
        key = None
    else:
        key = name.decode("latin-1").upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
    if len(_HEADER_KEYS) < _HEADER_KEYS_MAX:
        _HEADER_KEYS[name] = key
    return key


def scope_to_environ(scope: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The WSGI environ of an ASGI `http` scope (no `wsgi.input`: the caller adds it)."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    cgi = connection_environ(  # (not named `environ`: tests/infra reads that as the process's)
        base, scope.get("server"), scope.get("client"), scope.get("scheme", "http")
    )
    cgi["REQUEST_METHOD"] = scope["method"]
    cgi["SERVER_PROTOCOL"] = "HTTP/" + scope.get("http_version", "1.1")
    add_target(cgi, raw_path, scope.get("query_string") or b"")
    for name, value in scope["headers"]:
        add_header(cgi, name, value)
    return cgi


def connection_environ(
    base: dict[str, Any],
    server: tuple[str, int | None] | None,
    client: tuple[str, int] | None,
    scheme: str,
) -> dict[str, Any]:
    """A copy of `base` with what one connection tells: the server's and the client's
    addresses, the scheme (the start of each of its requests' environ)."""
    server = server or ("127.0.0.1", 0)
    client = client or ("", 0)
    cgi = base.copy()
    cgi["SERVER_NAME"] = str(server[0])
    cgi["SERVER_PORT"] = str(server[1])
    cgi["REMOTE_ADDR"] = str(client[0])
    cgi["REMOTE_PORT"] = str(client[1])
    cgi["wsgi.url_scheme"] = scheme
    return cgi


def add_target(cgi: dict[str, Any], raw_path: bytes, query: bytes) -> None:
    """RAW_URI the target as sent, PATH_INFO percent-decoded to latin-1, QUERY_STRING."""
    target = raw_path + b"?" + query if query else raw_path
    cgi["RAW_URI"] = target.decode("latin-1")
    cgi["PATH_INFO"] = (
        unquote_to_bytes(raw_path).decode("latin-1")
        if b"%" in raw_path
        else raw_path.decode("latin-1")
    )
    cgi["QUERY_STRING"] = query.decode("latin-1")


def add_header(cgi: dict[str, Any], name: bytes, value: bytes) -> None:
    """One request header as its environ key (none for a name with `_`), a repeated one
    joined to what came before with a comma."""
    key = environ_key(name)
    if key is None:
        return
    text = value.decode("latin-1")
    seen = cgi.get(key)
    # the base holds no HTTP_* or CONTENT_* key: what is there, a header wrote
    cgi[key] = text if seen is None else f"{seen},{text}"


class _Body:
    """`wsgi.input`: reads pull the body's ASGI messages from the event loop, with a deadline."""

    def __init__(self, receive: Callable, loop: asyncio.AbstractEventLoop, timeout: float):
        self._receive = receive
        self._loop = loop
        self._timeout = timeout
        self._buffer = bytearray()
        self._done = False

    def _pull(self) -> None:
        if cooperative.active():
            try:
                message = cooperative.wait(asyncio.wait_for(self._receive(), self._timeout))
            except TimeoutError:
                self._done = True
                raise
        else:
            future = asyncio.run_coroutine_threadsafe(_awaited(self._receive), self._loop)
            try:
                message = future.result(self._timeout)
            except TimeoutError:
                future.cancel()
                self._done = True
                raise
        if message["type"] != "http.request":  # http.disconnect: the body reads short
            self._done = True
            return
        self._buffer += message.get("body", b"")
        if not message.get("more_body", False):
            self._done = True

    def read(self, size: int | None = -1) -> bytes:
        while not self._done and (size is None or size < 0 or len(self._buffer) < size):
            self._pull()
        if size is None or size < 0 or size >= len(self._buffer):
            data = bytes(self._buffer)
            self._buffer.clear()
            return data
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        while not self._done and b"\n" not in self._buffer:
            if size is not None and 0 <= size <= len(self._buffer):
                break
            self._pull()
        end = self._buffer.find(b"\n") + 1 or len(self._buffer)
        if size is not None and size >= 0:
            end = min(end, size)
        data = bytes(self._buffer[:end])
        del self._buffer[:end]
        return data

    def __iter__(self):
        while line := self.readline():
            yield line


class WsgiOverAsgi:
    """`WsgiOverAsgi(wsgi_app, threads=8, body_timeout=30.0, requests="cooperative")`: an ASGI
    application (`http` scopes; `lifespan` acknowledged) that runs `wsgi_app` on the loop's
    thread (`cooperative`; the pool of `threads` runs its blocking calls) or in the pool."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        *,
        threads: int = 8,
        body_timeout: float = 30.0,
        server_software: str = "granian",
        requests: str = "cooperative",
    ):
        if requests not in REQUEST_MODES:
            raise ValueError(
                f"requests must be one of {', '.join(REQUEST_MODES)}, not {requests!r}"
            )
        self.app = app
        self.cooperative = requests == "cooperative"
        self.body_timeout = body_timeout
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="proxy-request")
        self.base: dict[str, Any] = {
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SCRIPT_NAME": "",
            "SERVER_SOFTWARE": server_software,
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            raise ValueError(f"unsupported ASGI scope type {kind!r}")
        loop = asyncio.get_running_loop()
        environ = self.environ(scope, receive)
        if self.cooperative:
            answer = await cooperative.run(
                self._guarded, environ, receive, send, loop, executor=self.pool
            )
        else:
            answer = await loop.run_in_executor(
                self.pool, self._guarded, environ, receive, send, loop
            )
        if answer is not None:  # buffered: sent from here, no thread hand-off per message
            start, body = answer
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

    def environ(self, scope: dict[str, Any], receive: Callable) -> dict[str, Any]:
        """The WSGI environ of an `http` scope, its body pulled through `receive` (on the
        running loop)."""
        environ = scope_to_environ(scope, self.base)
        environ["wsgi.input"] = self.body(receive)
        return environ

    def body(self, receive: Callable, loop: asyncio.AbstractEventLoop | None = None) -> _Body:
        """`wsgi.input` for a request whose body comes through `receive` (ASGI messages), on
        `loop` (by default the running one), each read under `body_timeout`."""
        return _Body(receive, loop or asyncio.get_running_loop(), self.body_timeout)

    def _guarded(self, *args: Any) -> tuple[dict[str, Any], bytes] | None:
        """`_run`, with a StopIteration handed on as a RuntimeError: an asyncio future refuses a
        StopIteration, and the request would wait for its answer forever."""
        try:
            return self._run(*args)
        except StopIteration as exc:
            raise RuntimeError(f"the application raised StopIteration: {exc!r}") from exc

    def _run(
        self,
        environ: dict[str, Any],
        receive: Callable,
        send: Callable,
        loop: asyncio.AbstractEventLoop,
    ) -> tuple[dict[str, Any], bytes] | None:
        """In a pool thread: the application's answer, whole when it is a list, else streamed
        (each chunk sent through the loop). Granian's `send` swallows what a client that went
        away no longer reads (ASGI spec 2.3), so `receive` is watched for `http.disconnect`:
        then the iterable is closed (the proxy closes its upstream connection and counts it)."""
        started: list[dict[str, Any]] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [
                {
                    "type": "http.response.start",
                    "status": int(status[:3]),
                    "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
                }
            ]
            return no_write

        result = self.app(environ, start_response)
        if isinstance(result, list):
            return started[0], b"".join(result)
        gone = threading.Event()
        watcher = _in_loop(_watch_disconnect(receive, gone), loop)
        try:
            sent_head = False
            for chunk in result:
                if gone.is_set():
                    break
                if not chunk:
                    continue
                if not sent_head:
                    _wait(send, started[0], loop)
                    sent_head = True
                _wait(send, {"type": "http.response.body", "body": chunk, "more_body": True}, loop)
            if not sent_head:
                _wait(send, started[0], loop)
            _wait(send, {"type": "http.response.body", "body": b"", "more_body": False}, loop)
        finally:
            watcher.cancel()
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return None

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.pool.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _awaited(call: Callable, *args: Any) -> Any:
    """The server's `receive`/`send` called on its loop (they return awaitables, not coroutines)."""
    return await call(*args)


async def _watch_disconnect(receive: Callable, gone: threading.Event) -> None:
    """Sets `gone` when the client disconnects (a body the application left unread is skipped)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


def _wait(send: Callable, message: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
    if cooperative.active():
        cooperative.wait(_sent_then_yield(send, message))
    else:
        asyncio.run_coroutine_threadsafe(_awaited(send, message), loop).result()


async def _sent_then_yield(send: Callable, message: dict[str, Any]) -> None:
    """A streamed chunk sent, then one turn of the loop: granian's `send` may return at once,
    and a stream the upstream keeps full would otherwise never let the disconnect watcher run."""
    await send(message)
    await asyncio.sleep(0)


def _in_loop(coroutine: Awaitable[None], loop: asyncio.AbstractEventLoop) -> Any:
    """The coroutine run as a task of `loop` (from its own thread or another); `.cancel()`s."""
    if cooperative.active():
        return loop.create_task(coroutine)  # type: ignore[arg-type]
    return asyncio.run_coroutine_threadsafe(coroutine, loop)  # type: ignore[arg-type]


def no_write(data: bytes) -> None:
    """What `start_response` returns: the WSGI `write` callable, which the proxy never uses."""
    raise NotImplementedError("the proxy returns its body; write() is not offered")
