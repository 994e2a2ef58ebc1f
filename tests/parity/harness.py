"""The parity harness: send one scenario to two deployments and explain any difference.

A scenario is data (see corpus_*.yaml): who sends it, method, path, query, body. Both sides
answer; status, Content-Type and the JSON body (normalised by the route's documented ignore
rules) must be equal. A difference is returned as a readable unified diff.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import urllib3
import yaml

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Rules:
    ignore: tuple[str, ...] = ()  # dotted paths, `*` matches one key or index
    unordered: tuple[str, ...] = ()  # lists compared as multisets


@dataclass(frozen=True)
class Scenario:
    name: str
    route: str
    method: str
    path: str
    user: str = "anonymous"
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: Any


def load_corpus(name: str) -> tuple[dict[str, Rules], list[Scenario]]:
    data = yaml.safe_load((HERE / name).read_text())
    rules = {
        route: Rules(tuple(r.get("ignore", ())), tuple(r.get("unordered", ())))
        for route, r in data["rules"].items()
    }
    scenarios = [Scenario(**s) for s in data["scenarios"]]
    unknown = {s.route for s in scenarios} - set(rules)
    if unknown:
        raise ValueError(f"{name}: scenarios name routes without rules: {sorted(unknown)}")
    return rules, scenarios


def send(
    http: urllib3.PoolManager, base: str, scenario: Scenario, *, token: str | None, request_id: str
) -> Answer:
    headers = {"X-Request-ID": request_id, "Accept": "application/json", **scenario.headers}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = None
    if scenario.body is not None:
        body = json.dumps(scenario.body).encode()
        headers["Content-Type"] = "application/json"
    url = base + scenario.path + (("?" + urlencode(scenario.query)) if scenario.query else "")
    raw = http.request(
        scenario.method, url, body=body, headers=headers, retries=False, redirect=False
    )
    content_type = raw.headers.get("Content-Type", "").split(";")[0]
    try:
        parsed = json.loads(raw.data) if raw.data else None
    except ValueError:
        parsed = raw.data.decode(errors="replace")
    return Answer(raw.status, content_type, _strip_origin(parsed, base))


def _strip_origin(value: Any, base: str) -> Any:
    """Pagination links name the host that answered; compare them by path."""
    if isinstance(value, str):
        return value.replace(base, "<origin>")
    if isinstance(value, list):
        return [_strip_origin(v, base) for v in value]
    if isinstance(value, dict):
        return {k: _strip_origin(v, base) for k, v in value.items()}
    return value


def normalise(value: Any, rules: Rules, path: str = "") -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if any(fnmatch.fnmatchcase(child, pattern) for pattern in rules.ignore):
                out[key] = "<ignored>"
            else:
                out[key] = normalise(item, rules, child)
        return out
    if isinstance(value, list):
        items = [
            normalise(item, rules, f"{path}.{i}" if path else str(i))
            for i, item in enumerate(value)
        ]
        if any(fnmatch.fnmatchcase(path, pattern) for pattern in rules.unordered):
            items.sort(key=lambda item: json.dumps(item, sort_keys=True))
        return items
    return value


def difference(left: Answer, right: Answer, rules: Rules, *, labels: tuple[str, str]) -> str | None:
    """None when equal; else a unified diff of the two normalised answers."""
    a = {
        "status": left.status,
        "content_type": left.content_type,
        "body": normalise(left.body, rules),
    }
    b = {
        "status": right.status,
        "content_type": right.content_type,
        "body": normalise(right.body, rules),
    }
    if a == b:
        return None
    lines_a = json.dumps(a, indent=2, sort_keys=True).splitlines()
    lines_b = json.dumps(b, indent=2, sort_keys=True).splitlines()
    return "\n".join(
        difflib.unified_diff(lines_a, lines_b, fromfile=labels[0], tofile=labels[1], lineterm="")
    )
