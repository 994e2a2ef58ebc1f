"""Loki for tests: a real one at `STRANGLER_LOKI_URL`, else a recorder of Loki's HTTP API.

No Grafana Loki can be installed on these machines: Debian's `loki` package is another program
(MCMC linkage analysis on pedigrees, Debian Med), Debian has no promtail, PyPI and npm have
clients and handlers only, and the Go module is under the AGPL (not used here). So, unless
`STRANGLER_LOKI_URL` names a running Loki, `LokiRecorder` stands in: it takes Loki's push API
(`POST /loki/api/v1/push`, JSON) and answers `GET /loki/api/v1/query_range` for the part of
LogQL our tests use: a stream selector (`=`, `!=`, `=~`, `!~`), line filters (`|=`, `!=`) and
`| json` followed by label filters (`| request_id="..."`). Tests query through `query_range`
below, the same call either way.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_MATCHER = re.compile(r'\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
_LINE_FILTER = re.compile(r'\s*(\|=|!=)\s*"((?:[^"\\]|\\.)*)"')
_PIPE = re.compile(r'\s*\|((?:[^|"]|"(?:[^"\\]|\\.)*")+)')


class LogQLUnsupported(ValueError):
    """A query outside the subset the recorder answers."""


def _matchers(text: str) -> list[tuple[str, str, str]]:
    out, pos = [], 0
    while pos < len(text):
        match = _MATCHER.match(text, pos)
        if not match:
            raise LogQLUnsupported(f"selector: {text!r}")
        out.append((match.group(1), match.group(2), json.loads(f'"{match.group(3)}"')))
        pos = match.end()
    return out


def _holds(op: str, value: str | None, wanted: str) -> bool:
    value = "" if value is None else value
    if op == "=":
        return value == wanted
    if op == "!=":
        return value != wanted
    if op == "=~":
        return re.fullmatch(wanted, value) is not None
    return re.fullmatch(wanted, value) is None


def _stages(text: str) -> list[tuple[str, str]]:
    """`|= "x"`, `!= "x"` (line filters) and `| json`, `| label="v"` (pipeline stages)."""
    stages, pos = [], 0
    while text[pos:].strip():
        match = _LINE_FILTER.match(text, pos)
        if match:
            stages.append((match.group(1), json.loads(f'"{match.group(2)}"')))
        else:
            match = _PIPE.match(text, pos)
            if not match:
                raise LogQLUnsupported(text[pos:])
            stages.append(("|", match.group(1).strip()))
        pos = match.end()
    return stages


def compile_logql(query: str):
    """`(labels, line) -> labels or None` for the subset; raises LogQLUnsupported otherwise."""
    query = query.strip()
    if not query.startswith("{") or "}" not in query:
        raise LogQLUnsupported(query)
    selector, rest = query[1:].split("}", 1)
    stream = _matchers(selector)
    stages = _stages(rest)

    def run(labels: dict[str, str], line: str) -> dict[str, str] | None:
        if not all(_holds(op, labels.get(k), v) for k, op, v in stream):
            return None
        out = dict(labels)
        for op, arg in stages:
            if op == "|=" and arg not in line:
                return None
            if op == "!=" and arg in line:
                return None
            if op == "|" and arg == "json":
                try:
                    record = json.loads(line)
                except ValueError:
                    out["__error__"] = "JSONParserErr"
                    continue
                if isinstance(record, dict):
                    out.update({k: str(v) for k, v in record.items() if not isinstance(v, dict)})
            elif op == "|":
                matchers = _matchers(arg)
                if not all(_holds(o, out.get(k), v) for k, o, v in matchers):
                    return None
        return out

    return run


class _Handler(BaseHTTPRequestHandler):
    server: LokiRecorder

    def log_message(self, *args) -> None:  # quiet
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        if self.path != "/loki/api/v1/push":
            self._reply(404, {"error": "not found"})
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with self.server.lock:
            for stream in body["streams"]:
                for ns, line in stream["values"]:
                    self.server.entries.append((dict(stream["stream"]), int(ns), line))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        if parts.path == "/ready":
            self._reply(200, {"status": "ready"})
            return
        if parts.path != "/loki/api/v1/query_range":
            self._reply(404, {"error": "not found"})
            return
        params = urllib.parse.parse_qs(parts.query)
        try:
            run = compile_logql(params["query"][0])
        except LogQLUnsupported as exc:
            self._reply(400, {"error": f"unsupported by the recorder: {exc}"})
            return
        streams: dict[tuple, list[list[str]]] = {}
        with self.server.lock:
            entries = list(self.server.entries)
        for labels, ns, line in entries:
            out = run(labels, line)
            if out is not None:
                streams.setdefault(tuple(sorted(out.items())), []).append([str(ns), line])
        result = [{"stream": dict(k), "values": v} for k, v in streams.items()]
        self._reply(200, {"status": "success", "data": {"resultType": "streams", "result": result}})


class LokiRecorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.entries: list[tuple[dict[str, str], int, str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def __enter__(self) -> LokiRecorder:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()


def real_loki_url() -> str | None:
    return os.environ.get("STRANGLER_LOKI_URL") or None


def query_range(base: str, logql: str, *, since: float = 3600.0) -> list[dict]:
    """Loki's `query_range` (log query): the matching streams, each with its labels and lines."""
    now = time.time_ns()
    params = urllib.parse.urlencode(
        {
            "query": logql,
            "start": str(now - int(since * 1e9)),
            "end": str(now + 60 * 10**9),
            "limit": "5000",
            "direction": "forward",
        }
    )
    with urllib.request.urlopen(f"{base}/loki/api/v1/query_range?{params}", timeout=10) as r:
        return json.loads(r.read())["data"]["result"]
