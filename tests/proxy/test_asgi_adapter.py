"""The ASGI adapter's environ is the one gunicorn builds (strangler_proxy/edge/asgi.py)."""

from __future__ import annotations

from strangler_proxy.edge.asgi import scope_to_environ


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
