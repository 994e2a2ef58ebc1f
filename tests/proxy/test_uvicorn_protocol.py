"""uvicorn's HTTP protocol as the proxy serves it (strangler_proxy/edge/uvicorn_server.py), driven
in-process over a transport that records what is written: a response's head leaves with its
first body bytes in one write (one segment, one wake-up of the client), and nothing is lost or
reordered where no body follows (HEAD), where the connection closes, where the body streams or
where the client asked to continue first."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

from strangler_proxy.edge.headers import FIELD_LIMIT, FIELDS_LIMIT, LINE_LIMIT
from strangler_proxy.edge.uvicorn_server import HEAD_LIMIT, HeadDeadlineProtocol
from tests.proxy.protocol_driver import drive


def _app(*chunks: bytes, length: bool = True):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", b"application/json")]
        if length:
            headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i, chunk in enumerate(chunks):
            more = i < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    return app


def _served(app, *requests: bytes) -> list[Any]:
    """What the protocol wrote for `requests` (sent as one read), in order."""
    return _served_in_reads(app, [b"".join(requests)])


def _served_in_reads(app, reads: Iterable[bytes]) -> list[Any]:
    """What the protocol wrote for `reads` (each its own read, until the connection closes)."""
    return drive(HeadDeadlineProtocol, app, reads)


def _head(events: list[Any], index: int = 0) -> bytes:
    return events[index].split(b"\r\n\r\n", 1)[0]


GET = b"GET /api/v1/products/7/ HTTP/1.1\r\nHost: shop\r\n\r\n"


def test_the_head_and_the_body_leave_in_one_write():
    events = _served(_app(b'{"id": 7}'), GET)

    assert len(events) == 2 and events[1] == "close"  # (the connection lost: closed)
    assert events[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 9" in _head(events).lower()
    assert events[0].endswith(b'\r\n\r\n{"id": 7}')


def test_a_head_request_gets_its_head_alone():
    events = _served(_app(b'{"id": 7}'), b"HEAD /api/v1/products/7/ HTTP/1.1\r\nHost: shop\r\n\r\n")

    assert events[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert events[0].endswith(b"\r\n\r\n") and b"content-length: 9" in events[0].lower()


def test_a_closing_connection_gets_the_head_and_body_before_it_closes():
    request = b"GET /x HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n"

    events = _served(_app(b"abc"), request)

    assert events == [events[0], "close"]
    assert events[0].endswith(b"\r\n\r\nabc") and b"connection: close" in events[0].lower()


def test_a_streamed_body_sends_its_first_chunk_with_the_head_and_the_rest_after():
    events = _served(_app(b"first", b"second", b"", length=False), GET)

    assert events[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"transfer-encoding: chunked" in _head(events).lower()
    assert events[0].endswith(b"\r\n\r\n5\r\nfirst\r\n")
    assert events[1:] == [b"6\r\nsecond\r\n", b"0\r\n\r\n", "close"]


def test_the_continue_interim_answer_still_comes_first():
    request = (
        b"POST /api/v1/orders/ HTTP/1.1\r\nHost: shop\r\nContent-Length: 2\r\n"
        b"Expect: 100-continue\r\n\r\n{}"
    )

    events = _served(_app(b"ok"), request)

    assert events[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert events[1].startswith(b"HTTP/1.1 200 OK\r\n") and events[1].endswith(b"\r\n\r\nok")


def test_pipelined_requests_are_answered_in_order_one_write_each():
    events = _served(_app(b"one"), GET, b"GET /b HTTP/1.1\r\nHost: shop\r\n\r\n")

    answers = [e for e in events if e != "close"]
    assert len(answers) == 2
    assert all(a.startswith(b"HTTP/1.1 200 OK\r\n") and a.endswith(b"one") for a in answers)


@pytest.mark.parametrize("fails_after_start", [True, False])
def test_an_application_that_fails_closes_the_connection(fails_after_start):
    async def app(scope, receive, send):
        if fails_after_start:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("boom")

    events = _served(app, GET)

    if fails_after_start:  # a head without its body would read as a truncated answer
        assert events == ["close"]
    else:  # uvicorn's own 500, whole, before the close
        assert events[0].startswith(b"HTTP/1.1 500 ") and events[0].endswith(b"Error")
        assert events[-1] == "close"


def _refusal(events: list[Any]) -> tuple[int, dict]:
    assert events[-1] == "close"
    head, _, body = events[0].partition(b"\r\n\r\n")
    assert b"content-type: application/problem+json" in head.lower()
    return int(head.split()[1]), json.loads(body)


def test_a_request_line_over_the_limit_is_refused_with_414():
    long_target = b"/api/v1/products/?q=" + b"a" * LINE_LIMIT

    status, problem = _refusal(_served(_app(b"x"), b"GET " + long_target + b" HTTP/1.1\r\n\r\n"))

    assert status == 414 and str(LINE_LIMIT) in problem["detail"]


def test_too_many_header_fields_are_refused_with_431():
    fields = b"".join(b"X-Field-%d: v\r\n" % i for i in range(FIELDS_LIMIT + 1))

    status, problem = _served_refusal(b"GET / HTTP/1.1\r\n" + fields + b"\r\n")

    assert status == 431 and f"more than {FIELDS_LIMIT}" in problem["detail"]


def test_a_header_field_over_the_limit_is_refused_with_431_naming_it():
    status, problem = _served_refusal(
        b"GET / HTTP/1.1\r\nHost: shop\r\nX-Huge: " + b"a" * FIELD_LIMIT + b"\r\n\r\n"
    )

    assert status == 431 and "'x-huge'" in problem["detail"].lower()


def test_a_head_that_never_ends_is_refused_once_over_the_limit_not_buffered():
    # given: one header line that keeps growing, read after read, and is never finished
    sent: list[int] = []

    def reads():
        yield b"GET / HTTP/1.1\r\nHost: shop\r\nX-Endless: "
        for _ in range(40):  # 2.6 MB
            yield b"a" * 65536
            sent.append(65536)  # (resumed: the chunk was read)

    events = _served_in_reads(_app(b"x"), reads())

    # then: refused as soon as the head passed HEAD_LIMIT (~0.8 MB), the rest never read
    status, problem = _refusal(events)
    assert status == 431 and str(HEAD_LIMIT) in problem["detail"]
    assert HEAD_LIMIT < sum(sent) <= HEAD_LIMIT + 65536


def test_the_limits_count_each_request_of_a_kept_alive_connection_afresh():
    fields = b"".join(b"X-Field-%d: v\r\n" % i for i in range(FIELDS_LIMIT - 5))
    request = b"GET / HTTP/1.1\r\nHost: shop\r\n" + fields + b"\r\n"

    events = _served(_app(b"ok"), request, request, request)

    assert [e[:15] for e in events if e != "close"] == [b"HTTP/1.1 200 OK"] * 3


def _served_refusal(request: bytes) -> tuple[int, dict]:
    return _refusal(_served(_app(b"x"), request))
