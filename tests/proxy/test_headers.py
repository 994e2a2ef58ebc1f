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


FORGED = [
    ("X-Forwarded-For", "6.6.6.6"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Ssl", "on"),
    ("Forwarded", "for=6.6.6.6;proto=https"),
    ("X-Real-Ip", "6.6.6.6"),
    ("Accept", "*/*"),
]


def _view(headers, peer, trusted=""):
    return h.client_view(
        headers, peer=peer, scheme="http", host="shop.example", trusted=h.TrustedHops.parse(trusted)
    )


def test_forwarded_headers_overwrite_what_an_untrusted_client_sent():
    # given a client that forges every forwarding header, talking to the edge directly
    view = _view(FORGED, "203.0.113.7")
    # when
    out = h.upstream_headers(FORGED, view, "0f1e")
    # then only what the edge saw goes upstream, once
    assert out == [
        ("Accept", "*/*"),
        ("X-Request-ID", "0f1e"),
        ("X-Forwarded-For", "203.0.113.7"),
        ("X-Forwarded-Proto", "http"),
        ("X-Forwarded-Host", "shop.example"),
    ]


def test_the_proxys_own_headers_from_a_client_never_reach_an_upstream():
    # given a client that sends the names only the proxy writes, in any case, twice over
    sent = [
        ("X-Request-Id", "forged-id"),
        ("x-strangler-shadow", "1"),
        ("X-Strangler-Dry-Run", "1"),
        ("Accept", "*/*"),
        ("X-Strangler-Shadow", "1"),
        ("X-Forwarded-Prefix", "/admin"),
    ]
    view = _view(sent, "203.0.113.7")
    for _ in range(2):  # (the second time from the names remembered)
        out = h.upstream_headers(sent, view, "ours")
        assert [name for name, _ in out] == [
            "Accept",
            "X-Request-ID",
            "X-Forwarded-For",
            "X-Forwarded-Proto",
            "X-Forwarded-Host",
        ]
        assert dict(out)["X-Request-ID"] == "ours"


def test_a_trusted_hop_reports_the_client_address_scheme_and_host():
    headers = [
        (
            "X-Forwarded-For",
            "6.6.6.6, 198.51.100.4",
        ),  # the client wrote 6.6.6.6; the ingress saw .4
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "shop.example.com"),
    ]
    view = _view(headers, "10.0.0.2", trusted="10.0.0.0/8")
    assert view == h.ClientView("198.51.100.4", "https", "shop.example.com")
    assert dict(h.upstream_headers(headers, view, "0f1e"))["X-Forwarded-For"] == "198.51.100.4"


def test_chained_trusted_hops_are_skipped_and_garbage_is_not_believed():
    chain = [("X-Forwarded-For", "198.51.100.4, 10.0.0.9")]
    assert _view(chain, "10.0.0.2", trusted="10.0.0.0/8").address == "198.51.100.4"
    garbage = [("X-Forwarded-For", "not-an-ip"), ("X-Forwarded-Proto", "gopher")]
    view = _view(garbage, "10.0.0.2", trusted="10.0.0.2")
    assert (view.address, view.proto) == ("10.0.0.2", "http")


def test_an_untrusted_peer_is_the_client_whatever_it_says():
    view = _view([("X-Forwarded-For", "198.51.100.4")], "10.0.0.3", trusted="10.0.0.2, ::1")
    assert view == h.ClientView("10.0.0.3", "http", "shop.example")
    assert "198.51.100.4" not in h.TrustedHops.parse("")
    assert "1.2.3.4" in h.TrustedHops.parse("*")


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
    [
        [("X-A", "a\r\nSet-Cookie: x=1")],
        [("X-A", "a\nb")],
        [("X-A", "a\x00")],
        [("Bad Name", "v")],
        [("X-A\n", "v")],  # (a regular expression's `$` also matches before a last LF)
    ],
)
def test_check_headers_refuses_injection(headers):
    with pytest.raises(h.UnsafeRequest):
        h.check_headers(headers)
    with pytest.raises(h.UnsafeRequest):
        h.writable_name(*headers[0])


def test_check_headers_takes_the_limits_and_refuses_what_is_over_them_with_431():
    at_limit = [(f"X-F{i}", "v") for i in range(h.FIELDS_LIMIT - 1)]
    at_limit.append(("X-Big", "a" * (h.FIELD_LIMIT - len("X-Big") - 2)))
    h.check_headers(at_limit)

    with pytest.raises(h.TooLarge) as many:
        h.check_headers([*at_limit, ("X-One-More", "v")])
    with pytest.raises(h.TooLarge) as big:
        h.check_headers([("X-Big", "a" * (h.FIELD_LIMIT - len("X-Big") - 1))])

    assert (many.value.status, many.value.code) == (431, "request_header_fields_too_large")
    assert big.value.status == 431 and "'X-Big'" in str(big.value)


def test_check_path_refuses_a_target_over_the_line_limit_with_414():
    h.check_path("/q?" + "a" * (h.LINE_LIMIT - 3))

    with pytest.raises(h.TooLarge) as long:
        h.check_path("/q?" + "a" * (h.LINE_LIMIT - 2))

    assert (long.value.status, long.value.code) == (414, "uri_too_long")


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


def test_path_under_any_agrees_with_path_under_for_each_prefix():
    prefixes = ("/metrics", "/readyz/", "/api/schema", "/api/docs")
    paths = [
        "/metrics",
        "/metrics/",
        "/metrics/x",
        "/metricsx",
        "/readyz",
        "/readyz/a",
        "/ready",
        "/api/schema/",
        "/api/schemas",
        "/api/docs/ui",
        "/api",
        "/",
        "",
    ]
    for path in paths:
        expected = any(h.path_under(path, p) for p in prefixes)
        assert h.path_under_any(path, prefixes) is expected, path
    assert h.path_under_any("/anything", ("/",)) and h.path_under_any("/", ("/",))
