"""The pure header and path helpers."""

from __future__ import annotations

import pytest

from strangler_proxy.edge import headers as h


def test_meta_to_headers_drops_hop_by_hop_and_connection_named():
    meta = {
        "HTTP_CONNECTION": "keep-alive, X-Private",
        "HTTP_X_PRIVATE": "1",
        "HTTP_TE": "trailers",
        "HTTP_ACCEPT": "*/*",
        "CONTENT_TYPE": "text/plain",
        "CONTENT_LENGTH": "",
        "wsgi.input": object(),
    }
    assert sorted(h.meta_to_headers(meta)) == [("Accept", "*/*"), ("Content-Type", "text/plain")]


def test_forwarded_headers_append_to_earlier_hops():
    out = h.forwarded_headers(
        [("X-Forwarded-For", "1.1.1.1"), ("Accept", "*/*")],
        client_ip="2.2.2.2",
        proto="http",
        host="shop.example",
    )
    assert dict(out) == {
        "Accept": "*/*",
        "X-Forwarded-For": "1.1.1.1, 2.2.2.2",
        "X-Forwarded-Proto": "http",
        "X-Forwarded-Host": "shop.example",
    }


def test_set_host_leaves_exactly_one():
    assert h.set_host([("Host", "a"), ("host", "b"), ("X", "1")], "up:1") == [
        ("X", "1"),
        ("Host", "up:1"),
    ]


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("http://10.0.0.5:8001/a?b=1", "https://shop.example/a?b=1"),
        ("HTTP://10.0.0.5:8001", "https://shop.example"),
        ("/relative", "/relative"),
        ("https://elsewhere.example/x", "https://elsewhere.example/x"),
    ],
)
def test_rewrite_location_only_for_upstream_origins(location, expected):
    got = h.rewrite_location(
        location, upstream_origins=["http://10.0.0.5:8001"], public_origin="https://shop.example"
    )
    assert got == expected


@pytest.mark.parametrize(
    "headers",
    [[("X-A", "a\r\nSet-Cookie: x=1")], [("X-A", "a\nb")], [("X-A", "a\x00")], [("Bad Name", "v")]],
)
def test_check_headers_refuses_injection(headers):
    with pytest.raises(h.UnsafeRequest):
        h.check_headers(headers)


@pytest.mark.parametrize(
    "path",
    [
        "/../x",
        "/a/./b",
        "/a/%2e%2E/b",
        "/a/%252e%252e/b",
        "/a%2fb",
        "/a%5cb",
        "/a\\b",
        "x",
        "/a%00",
    ],
)
def test_check_path_refuses_traversal(path):
    with pytest.raises(h.UnsafeRequest):
        h.check_path(path)


@pytest.mark.parametrize("path", ["/", "/api/v1/products/1/?q=..", "/a%20b/%E2%82%AC", "/a..b/c."])
def test_check_path_accepts_ordinary_paths(path):
    h.check_path(path)


def test_response_headers_drop_unsafe_and_hop_by_hop_and_map_location():
    out = h.response_headers(
        [
            ("Connection", "close"),
            ("Transfer-Encoding", "chunked"),
            ("X-Ok", "1"),
            ("X-Bad", "a\r\nb"),
            ("Location", "http://up:1/next"),
        ],
        upstream_origins=["http://up:1"],
        public_origin="http://edge",
    )
    assert out == [("X-Ok", "1"), ("Location", "http://edge/next")]
