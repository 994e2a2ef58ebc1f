"""The ASGI adapter's environ is the one gunicorn builds (strangler_proxy/edge/asgi.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from servicekit.web import cooperative
from strangler_proxy.edge.asgi import WsgiOverAsgi, scope_to_environ


def _scope(raw_path: bytes, query: bytes = b"", headers=()) -> dict:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "(decoded: not used)",
        "raw_path": raw_path,
        "query_string": query,
        "server": ("127.0.0.1", 8000),
        "client": ("10.0.0.7", 50123),
        "headers": list(headers),
    }


def test_the_raw_target_is_kept_and_path_info_decoded_to_latin_1():
    environ = scope_to_environ(_scope(b"/a%2Fb/%E2%82%AC;p", b"q=%2F"), {})
    assert environ["RAW_URI"] == "/a%2Fb/%E2%82%AC;p?q=%2F"
    assert environ["PATH_INFO"] == "/a/b/\xe2\x82\xac;p"  # WSGI: bytes as latin-1, like gunicorn
    assert environ["QUERY_STRING"] == "q=%2F"
    assert (environ["REMOTE_ADDR"], environ["SERVER_PORT"]) == ("10.0.0.7", "8000")


def test_headers_become_cgi_names_repeated_ones_joined_underscored_ones_dropped():
    environ = scope_to_environ(
        _scope(
            b"/",
            headers=[
                (b"content-type", b"application/json"),
                (b"content-length", b"2"),
                (b"x-dup", b"one"),
                (b"x-dup", b"two"),
                (b"x_role", b"admin"),
                (b"x-role", b"user"),
                (b"x-latin", b"caf\xe9"),
            ],
        ),
        {"SERVER_SOFTWARE": "test"},
    )
    assert environ["CONTENT_TYPE"] == "application/json"
    assert environ["CONTENT_LENGTH"] == "2"
    assert "HTTP_CONTENT_TYPE" not in environ
    assert environ["HTTP_X_DUP"] == "one,two"
    assert environ["HTTP_X_ROLE"] == "user"
    assert environ["HTTP_X_LATIN"] == "caf\xe9"
    assert environ["SERVER_SOFTWARE"] == "test"


# --- the adapter run in-process: its threads and what they hand back ---------------------------


def _call(adapter: WsgiOverAsgi, scopes: list[dict]) -> list[list[dict]]:
    """Each scope's sent messages, all of them requested at once on one event loop."""

    async def one(scope: dict) -> list[dict]:
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await adapter(scope, receive, send)
        return sent

    async def every() -> list[list[dict]]:
        # a hand-off that loses an answer fails here instead of hanging the suite
        return await asyncio.wait_for(asyncio.gather(*(one(scope) for scope in scopes)), 30)

    return asyncio.run(every())


def test_threads_mode_runs_requests_at_once_in_the_adapters_threads_each_with_its_answer():
    both_in = threading.Barrier(4, timeout=10)  # only passes if 4 requests run side by side
    threads: set[str] = set()

    def app(environ, start_response):
        threads.add(threading.current_thread().name)
        both_in.wait()
        start_response("200 OK", [("X-Path", environ["RAW_URI"])])
        return [environ["RAW_URI"].encode()]

    adapter = WsgiOverAsgi(app, threads=4, requests="threads")
    answers = _call(adapter, [_scope(f"/{n}".encode()) for n in range(8)])
    for n, sent in enumerate(answers):
        assert sent[0]["status"] == 200
        assert sent[0]["headers"] == [(b"X-Path", f"/{n}".encode())]
        assert sent[1] == {
            "type": "http.response.body",
            "body": f"/{n}".encode(),
            "more_body": False,
        }
    assert len(threads) == 4 and all(name.startswith("proxy-request") for name in threads)


def test_cooperative_mode_runs_requests_at_once_on_the_loops_thread_each_with_its_answer():
    """Eight requests in flight together on one thread: each waits (through the loop) until all
    eight have arrived, which only happens if none of them holds the thread while it waits."""
    arrived: list[str] = []
    threads: set[str] = set()
    all_in = asyncio.Event()

    def app(environ, start_response):
        threads.add(threading.current_thread().name)
        arrived.append(environ["RAW_URI"])
        if len(arrived) == 8:
            all_in.set()
        cooperative.wait(all_in.wait())
        start_response("200 OK", [("X-Path", environ["RAW_URI"])])
        return [environ["RAW_URI"].encode()]

    adapter = WsgiOverAsgi(app, threads=1)  # the default mode
    answers = _call(adapter, [_scope(f"/{n}".encode()) for n in range(8)])
    for n, sent in enumerate(answers):
        assert sent[0]["headers"] == [(b"X-Path", f"/{n}".encode())]
        assert sent[1]["body"] == f"/{n}".encode()
    assert threads == {threading.current_thread().name}


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="cooperative, threads"):
        WsgiOverAsgi(lambda environ, start_response: [], requests="greenlets")


@pytest.mark.parametrize("mode", ["cooperative", "threads"])
def test_an_application_error_reaches_the_server_and_the_adapter_keeps_serving(mode):
    def app(environ, start_response):
        if environ["RAW_URI"] == "/boom":
            raise ValueError("boom")
        if environ["RAW_URI"] == "/stop":
            raise StopIteration  # an asyncio future refuses it: handed on as a RuntimeError
        start_response("204 No Content", [])
        return []

    adapter = WsgiOverAsgi(app, threads=1, requests=mode)
    with pytest.raises(ValueError, match="boom"):
        _call(adapter, [_scope(b"/boom")])
    with pytest.raises(RuntimeError, match="StopIteration"):
        _call(adapter, [_scope(b"/stop")])
    assert _call(adapter, [_scope(b"/fine")])[0][0]["status"] == 204


def test_lifespan_is_acknowledged():
    adapter = WsgiOverAsgi(lambda environ, start_response: [], threads=1)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict] = []

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(adapter({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
