"""The header fast paths give what the field-by-field paths give, on any input.

Three places check or rewrite a request's or a response's fields all at once (joins and C
iterators) when they can, and field by field otherwise: the upstream client's parse of a
response head, the edge's request headers and the response headers the client gets. Each is
compared here with its field-by-field path on generated fields, the awkward ones (CR, LF, NUL,
obsolete folding, names that are not tokens, Connection lists, empty Content-Type, fields at the
size limits) drawn often. The head the uvicorn path writes skips the token check for a name it
has seen before, never the value's.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from strangler_proxy.edge import headers as h
from strangler_proxy.edge import wsgi_cycle
from strangler_proxy.upstream.client import ProtocolError, fields_one_by_one, parse_fields
from strangler_proxy.upstream.fields import token_lower

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NAMES = st.sampled_from(
    [
        "Content-Type",
        "content-length",
        "Connection",
        "Keep-Alive",
        "Location",
        "X-Request-ID",
        "Set-Cookie",
        "Vary",
        "X-Forwarded-Host",
        "Transfer-Encoding",
        "Close",
        "x_under",
        "Bad Name",
        "Bad:Name",
        "",
        "Ünïcode",
        "Two\nLines",
    ]
)
VALUES = st.one_of(
    st.sampled_from(
        [
            "keep-alive",
            "close",
            "Keep-Alive, X-Request-ID",
            "upgrade",
            "0",
            "115",
            "",
            "  padded \t",
            "http://127.0.0.1:8001/next",
            "a\r\nInjected: yes",
            "nul\x00here",
            "lone\rcr",
            "lone\nlf",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0xFF), max_size=12),
)
FIELDS = st.lists(st.tuples(NAMES, VALUES), max_size=8)


def _outcome(fn, *args):
    """What `fn(*args)` gives, or the type of what it raises (and a refusal's status)."""
    try:
        return fn(*args)
    except h.TooLarge as exc:
        return ("refused", exc.status)
    except Exception as exc:  # (the two paths must fail alike)
        return ("raised", type(exc).__name__)


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.tuples(NAMES, VALUES).map(lambda f: f"{f[0]}:{f[1]}"),
            st.sampled_from([" folded", "\tfolded", "no colon", ":", " Name : v", "X:  v  "]),
        ),
        max_size=8,
    )
)
def test_a_response_head_parsed_at_once_is_the_head_parsed_line_by_line(lines):
    text = "\r\n".join(line.replace("\r\n", "") for line in lines)
    if not text:  # a status line alone
        assert parse_fields(text).items() == []
        return
    try:
        slow = fields_one_by_one(text)
    except ProtocolError:
        with pytest.raises(ProtocolError):
            parse_fields(text)
        return
    fast = parse_fields(text)
    assert fast.items() == slow.items()
    assert fast.lowered == [name.lower() for name, _ in slow.items()]
    if fast.checked:  # each name a token, no value with CR, LF or NUL: written as it is
        for name, value in fast.items():
            assert h.writable_name(name, value) == name.lower()


def test_the_head_an_upstream_sends_is_parsed_at_once():
    fields = parse_fields(
        "Server: gunicorn\r\nContent-Type: application/json\r\nX-Empty:\r\nVary:  Accept \t"
    )
    assert fields.checked
    assert fields.items() == [
        ("Server", "gunicorn"),
        ("Content-Type", "application/json"),
        ("X-Empty", ""),
        ("Vary", "Accept"),
    ]
    assert fields.lowered == ["server", "content-type", "x-empty", "vary"]
    assert fields.get("content-type") == "application/json"
    assert fields.get_all("VARY") == ["Accept"]
    assert not parse_fields("A: b\r\n folded").checked
    assert parse_fields("A: b\r\n folded").items() == [("A", "b folded")]


def _environ(fields, connection):
    meta = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.url_scheme": "http"}
    for name, value in fields:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        meta[key] = value
    if connection is not None:
        meta["HTTP_CONNECTION"] = connection
    return meta


def _one_by_one(meta):
    headers = h.meta_to_headers(meta)
    h.check_headers(headers)
    return headers


@SETTINGS
@given(
    FIELDS,
    st.sampled_from([None, "keep-alive", "Keep-Alive", "close", "Keep-Alive, X-Request-ID"]),
    st.sampled_from([0, h.FIELD_LIMIT - 40, h.FIELD_LIMIT]),
)
@example([("Close", "x"), ("Accept", "*/*")], "close", 0)  # Connection names a header
@example([("Keep-Alive", "5"), ("X-Request-ID", "x")], "Keep-Alive, X-Request-ID", 0)
@example([("Content-Type", ""), ("Accept", "*/*")], None, 0)  # an empty one is not sent
@example([("Accept", "a\r\nInjected: yes")], None, 0)
@example([("Accept", "*/*")], None, h.FIELD_LIMIT - 40)  # at the limit, and over it
@example([("Accept", "*/*")], None, h.FIELD_LIMIT)
def test_request_headers_are_the_fields_taken_one_by_one(fields, connection, padding):
    if padding:  # one large field near (or over) the limit
        fields = [*fields, ("X-Large", "p" * padding)]
    meta = _environ(fields, connection)
    assert _outcome(h.request_headers, meta) == _outcome(_one_by_one, meta)
    assert _outcome(h.request_headers, meta) == _outcome(_one_by_one, meta)  # (planned now)


def test_request_headers_over_the_field_count_are_refused_with_431():
    meta = _environ([(f"X-F{i}", "v") for i in range(h.FIELDS_LIMIT + 1)], None)
    with pytest.raises(h.TooLarge) as refused:
        h.request_headers(meta)
    assert refused.value.status == 431


@SETTINGS
@given(FIELDS)
@example([("Connection", "Keep-Alive, Vary"), ("Vary", "Accept")])
@example([("Connection", "keep-alive"), ("Connection", "Vary"), ("Vary", "Accept")])
@example([("Location", "http://127.0.0.1:8001/next"), ("X-Request-ID", "theirs")])
def test_checked_response_headers_are_the_headers_filtered_one_by_one(fields):
    # what the upstream client's parse says is checked: each name a token, no CR, LF or NUL
    clean = [(n, v) for n, v in fields if token_lower(n) is not None and not h.unsafe_value(v)]
    options = {
        "upstream_origins": ["http://127.0.0.1:8001"],
        "public_origin": "https://shop.example",
        "drop": frozenset({"x-request-id"}),
    }
    lowered = [name.lower() for name, _ in clean]
    assert h.response_headers(clean, checked=lowered, **options) == h.response_headers(
        clean, **options
    )


class _Exchange:
    keep_alive = True
    response_started = False
    waiting_for_100_continue = False


@pytest.mark.parametrize(
    "field", [("Vary", "a\r\nInjected: yes"), ("Vary", "nul\x00"), ("Vary", "lf\nonly")]
)
def test_a_name_written_before_does_not_let_an_unsafe_value_through(field):
    head, _, _ = wsgi_cycle._head(
        "200 OK", [("Vary", "Accept")], _Exchange(), True, 0, chunkable=True
    )
    assert b"Vary: Accept\r\n" in head  # the name is now known to be a token
    with pytest.raises(h.UnsafeRequest):
        wsgi_cycle._head("200 OK", [field], _Exchange(), True, 0, chunkable=True)
