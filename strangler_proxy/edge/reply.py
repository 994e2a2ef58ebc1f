"""What the client gets: a `Reply` (buffered or streamed) and the proxy's own problem+json."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from http import HTTPStatus

from servicekit.web.errors import PROBLEM_CONTENT_TYPE, problem, title_for
from servicekit.web.request_id import HEADER as REQUEST_ID_HEADER
from strangler_proxy.metrics import CLIENT_DISCONNECTS, UPSTREAM_ERRORS
from strangler_proxy.upstream.client import Response, TransportError

CHUNK = 64 * 1024


@dataclass
class Reply:
    """What the client gets; `body` is bytes, or an iterator when the answer is streamed."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes | Iterator[bytes]

    @property
    def streaming(self) -> bool:
        return not isinstance(self.body, bytes)

    @property
    def status_line(self) -> str:
        return f"{self.status} {self.reason or _phrase(self.status)}"


class Rejected(Exception):
    """A step of the request pipeline answers by itself (400, 401, 413, 429, 5xx)."""

    def __init__(self, reply: Reply):
        super().__init__(reply.status)
        self.reply = reply


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def wants_html(accept: str) -> bool:
    """A browser's page load or form post (it asks for text/html before any JSON), not an API
    client: it gets our refusals as a page, not as raw JSON on screen."""
    ranges = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    for media in ranges:
        if media in ("text/html", "application/xhtml+xml"):
            return True
        if media.endswith("json") or media == "*/*":
            return False
    return False


_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{status} {title}</title>'
    "</head><body><h1>{status} {title}</h1><p>{detail}</p>"
    "<p><small>Request id: <code>{request_id}</code></small></p></body></html>\n"
)


def problem_reply(
    status: int,
    code: str,
    detail: str,
    request_id: str,
    extra: list[tuple[str, str]] | None = None,
    *,
    html: bool = False,
) -> Reply:
    """An answer of the proxy's own, as RFC 9457 problem+json (servicekit.web.errors.problem),
    or as a small page with the same words when a browser asked (`html`)."""
    body = problem(
        status_code=status,
        code=code,
        title=title_for(status),
        detail=detail,
        request_id=request_id or None,
    )
    if html:
        escaped = {k: escape(str(body.get(k) or "")) for k in ("title", "detail")}
        page = _PAGE.format(status=status, request_id=escape(request_id or "-"), **escaped)
        data = page.encode()
        content_type = "text/html; charset=utf-8"
    else:
        data = json.dumps(body).encode()
        content_type = PROBLEM_CONTENT_TYPE
    headers = [("Content-Type", content_type), ("Content-Length", str(len(data)))]
    if request_id:
        headers.append((REQUEST_ID_HEADER, request_id))
    return Reply(status, "", headers + (extra or []), data)


def stream(raw: Response, upstream: str, route: str) -> Iterator[bytes]:
    """Relays the body as it arrives; a client that goes away closes the upstream connection."""
    done = False
    try:
        yield from raw.stream(CHUNK, decode_content=False)
        done = True
    except TransportError:
        UPSTREAM_ERRORS.labels(upstream, "protocol").inc()
        raise
    except GeneratorExit:
        CLIENT_DISCONNECTS.labels(route).inc()
        raise
    finally:
        if done:
            raw.release_conn()
        else:
            raw.close()
