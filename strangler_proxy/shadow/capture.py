"""Traffic capture: shadowed requests kept (secrets stripped) and exported as parity scenarios.

Secrets never reach the store: Authorization and Cookie are dropped at record time, the caller
becomes a role (`anonymous`, `customer`, `staff` from the token's unverified claims), and query
parameters and JSON body fields that are secrets by the logs' rules (servicekit.web.redaction)
are replaced by `REDACTED`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from servicekit.web.redaction import is_sensitive_key, redact_text
from servicekit.web.redaction import redact as redact_with

REDACTED = "REDACTED"  # the parity corpus' marker
# headers worth replaying; everything else (auth, cookies, forwarding, tracing) stays behind
KEPT_HEADERS = {"accept", "accept-language", "content-type", "idempotency-key"}


def role_of(headers: Iterable[tuple[str, str]]) -> str:
    """Who sent it, as a role: the token's unverified claims say staff or customer."""
    for name, value in headers:
        if name.lower() == "authorization":
            scheme, _, token = value.partition(" ")
            if scheme.lower() != "bearer" or token.count(".") != 2:
                return "anonymous"
            try:
                payload = token.split(".")[1]
                claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            except ValueError:
                return "anonymous"
            return "staff" if isinstance(claims, dict) and claims.get("is_staff") else "customer"
    return "anonymous"


def redact(value: Any) -> Any:
    return redact_with(value, REDACTED)


def captured_request(
    *,
    route: str,
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes | None,
) -> dict[str, Any]:
    """The replayable, secret-free part of one request."""
    headers = list(headers)
    parts = urlsplit(target)
    record: dict[str, Any] = {
        "route": route,
        "method": method,
        "path": parts.path,
        "query": {
            k: REDACTED if is_sensitive_key(k) else redact_text(v, REDACTED)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        },
        "user": role_of(headers),
        "headers": {
            k: v
            for k, v in headers
            if k.lower() in KEPT_HEADERS and not (k.lower() == "content-type" and not body)
        },
    }
    if body:
        try:
            record["body"] = redact(json.loads(body))
        except ValueError:
            record["body_skipped"] = f"{len(body)} bytes, not JSON"
    return record


def scenarios_document(
    records: list[dict[str, Any]],
    *,
    route: str | None = None,
    roles: dict[str, str] | None = None,
    ignore: list[str] | None = None,
    dedupe: bool = True,
) -> dict[str, Any]:
    """A parity corpus (tests/parity/corpus_*.yaml shape) from captured requests."""
    roles = roles or {}
    seen: set[str] = set()
    scenarios = []
    for record in records:
        if route is not None and record.get("route") != route:
            continue
        if "body_skipped" in record:
            continue
        scenario: dict[str, Any] = {
            "route": record["route"],
            "method": record["method"],
            "path": record["path"],
        }
        user = roles.get(record.get("user", "anonymous"), record.get("user", "anonymous"))
        if user != "anonymous":
            scenario["user"] = user
        if record.get("query"):
            scenario["query"] = record["query"]
        if record.get("body") is not None:
            scenario["body"] = record["body"]
        if record.get("headers"):
            scenario["headers"] = record["headers"]
        key = json.dumps(scenario, sort_keys=True)
        if dedupe and key in seen:
            continue
        seen.add(key)
        query = "&".join(f"{k}={v}" for k, v in (record.get("query") or {}).items())
        label = f"{record['method']} {record['path']}{'?' + query if query else ''}"
        scenarios.append({"name": f"captured {len(scenarios) + 1}: {label}"[:120], **scenario})
    routes = sorted({s["route"] for s in scenarios} | ({route} if route else set()))
    return {
        "rules": {name: {"ignore": list(ignore or [])} for name in routes},
        "scenarios": scenarios,
    }


def scenarios_yaml(document: dict[str, Any]) -> str:
    header = (
        "# Captured from shadow traffic by `python -m strangler_proxy capture export`.\n"
        "# Secrets were stripped when recorded: no Authorization or Cookie header, the caller is a\n"
        "# role name, secret-looking body fields are REDACTED. Review before adding to a corpus.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
