"""Shadow mode on HTML: noise ignored by pattern, differences located, redirects compared."""

from __future__ import annotations

import pytest

from strangler_proxy.routes import RouteTableError, parse_table
from strangler_proxy.shadow.compare import Answer, compare
from tests.proxy.conftest import ADMIN_TOKEN, routes_yaml, upstream_spec
from tests.support.wait import wait_for

CSRF_PATTERNS = (r'name="csrfmiddlewaretoken" value="([^"]+)"',)
PAGE = (
    "<!doctype html>\n<html><body>\n<h1>Log in</h1>\n<form method=post>"
    '<input type="hidden" name="csrfmiddlewaretoken" value="{token}">\n'
    '<input name="username"><p class="{klass}">Welcome</p>\n</form></body></html>\n'
)


def _page(token: str, klass: str = "note") -> Answer:
    body = PAGE.format(token=token, klass=klass).encode()
    return Answer(200, {"content-type": "text/html; charset=utf-8"}, body)


def test_a_csrf_token_is_noise_the_route_can_ignore_by_pattern():
    primary, candidate = _page("a" * 64), _page("b" * 64)
    assert compare(primary, candidate, ignore_patterns=CSRF_PATTERNS) == []
    # without the rule the pages differ, and the message says where, not "N bytes != N bytes"
    (diff,) = compare(primary, candidate)
    assert diff.startswith("body: differs at line 4, column ")
    assert "aaaa" in diff and "bbbb" in diff and "bytes" not in diff


def test_a_real_difference_outside_the_ignored_noise_is_still_found_and_located():
    diffs = compare(_page("a" * 64), _page("b" * 64, klass="warn"), ignore_patterns=CSRF_PATTERNS)
    assert len(diffs) == 1
    assert diffs[0].startswith("body: differs at line 5, column 34 ")
    assert 'class="note">Welcome' in diffs[0] and 'class="warn">Welcome' in diffs[0]


def test_a_pattern_without_a_group_masks_its_whole_match_and_binary_bodies_name_the_byte():
    a = Answer(200, {"content-type": "text/plain"}, b"built at 10:31:07 ok")
    b = Answer(200, {"content-type": "text/plain"}, b"built at 10:31:09 ok")
    assert compare(a, b, ignore_patterns=(r"\d\d:\d\d:\d\d",)) == []
    png = {"content-type": "image/png"}
    assert compare(Answer(200, png, b"\x89PNG\xff\x00"), Answer(200, png, b"\x89PNG\xfe\x00")) == [
        "body: binary, differs at byte 4 (6 vs 6)"
    ]


def test_redirects_are_compared_by_where_they_lead():
    to_login = Answer(302, {"location": "/login/?next=/a/"}, b"")
    assert compare(to_login, Answer(302, {"location": "/login/?next=/a/"}, b"")) == []
    assert compare(to_login, Answer(302, {"location": "/accounts/login/?next=/a/"}, b"")) == [
        "header location: '/login/?next=/a/' != '/accounts/login/?next=/a/'"
    ]


def test_a_bad_ignore_pattern_is_refused_naming_the_field():
    text = routes_yaml(
        {"monolith": upstream_spec("http://127.0.0.1:9"), "svc": upstream_spec("http://h:1")},
        [
            {
                "name": "pages",
                "prefix": "/",
                "mode": "shadow",
                "upstream": "svc",
                "shadow": {"ignore_patterns": ["ok", 'value=([^"]+']},
            }
        ],
    )
    with pytest.raises(RouteTableError, match=r"routes\[0\]\.shadow\.ignore_patterns\[1\]"):
        parse_table(text)


@pytest.fixture
def pair(start_upstream):
    return start_upstream("monolith"), start_upstream("service")


def _shadow_stats(client) -> dict:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {ADMIN_TOKEN}"}
    return client.get("/_strangler/shadow", **auth).json()


def test_chunked_redirects_are_relayed_compared_and_counted(make_proxy, pair):
    monolith, service = pair
    upstreams = {"monolith": upstream_spec(monolith.url), "service": upstream_spec(service.url)}
    route = {"name": "pages", "prefix": "/", "mode": "shadow", "upstream": "service"}
    client = make_proxy(routes_yaml(upstreams, [route]))
    # given: both answer a chunked 302 to their own origin, which the client sees as ours
    answer = client.get("/redirect-chunked", HTTP_HOST="shop.example")
    # then: relayed as it came, and compared (Location as the client sees it: equal)
    assert answer.status_code == 302
    assert answer["Location"] == "http://shop.example/landing"
    assert answer.content == b"Moved to here"
    wait_for(
        lambda: _shadow_stats(client)["comparisons"].get("pages", {}).get("match") == 1,
        timeout=10,
        interval=0.02,
        what="the chunked redirect compared and counted",
    )
    # when the two lead to different places, the difference names the header
    client.get("/redirect-chunked?to=/landing/{name}", HTTP_HOST="shop.example")
    wait_for(
        lambda: _shadow_stats(client)["recent_differences"],
        timeout=10,
        interval=0.02,
        what="a recorded redirect difference",
    )
    diff = _shadow_stats(client)["recent_differences"][0]["differences"]
    assert diff == [
        "header location: 'http://shop.example/landing/monolith' != "
        "'http://shop.example/landing/service'"
    ]
