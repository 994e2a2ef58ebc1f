"""Comparing the candidate's answer with the primary's as a client would notice (pure)."""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from typing import Any

from servicekit.web.redaction import is_sensitive_key, redact, redact_text


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def _decoded(answer: Answer) -> bytes:
    encoding = answer.headers.get("content-encoding", "").lower()
    try:
        if encoding == "gzip":
            return gzip.decompress(answer.body)
        if encoding == "deflate":
            return zlib.decompress(answer.body)
    except (OSError, zlib.error):
        return answer.body
    return answer.body


def _strip(value: Any, ignore: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v, ignore) for k, v in value.items() if k not in ignore}
    if isinstance(value, list):
        return [_strip(v, ignore) for v in value]
    return value


def _json_diffs(a: Any, b: Any, path: str, out: list[str], limit: int = 10) -> None:
    if len(out) >= limit:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            sub = f"{path}.{key}" if path else key
            if key not in b:
                out.append(f"{sub}: missing in candidate")
            elif key not in a:
                out.append(f"{sub}: only in candidate")
            elif is_sensitive_key(key):
                if a[key] != b[key]:
                    out.append(f"{sub}: differs (value redacted)")
            else:
                _json_diffs(a[key], b[key], sub, out, limit)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path or '(root)'}: {len(a)} items vs {len(b)}")
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            _json_diffs(x, y, f"{path}[{index}]", out, limit)
    elif a != b:
        shown = (redact_text(json.dumps(v)[:80]) for v in (a, b))
        out.append(f"{path or '(root)'}: {' != '.join(shown)}")


def compare(
    primary: Answer,
    candidate: Answer,
    *,
    ignore_fields: tuple[str, ...] = (),
    ignore_headers: tuple[str, ...] = (),
) -> list[str]:
    """Differences a client could notice: status, Content-Type, body (JSON compared as data)."""
    diffs: list[str] = []
    if primary.status != candidate.status:
        diffs.append(f"status: {primary.status} != {candidate.status}")
    if "content-type" not in ignore_headers:
        a, b = primary.headers.get("content-type"), candidate.headers.get("content-type")
        if a != b:
            diffs.append(f"header content-type: {a!r} != {b!r}")
    body_a, body_b = _decoded(primary), _decoded(candidate)
    if body_a == body_b:
        return diffs
    try:
        data_a, data_b = json.loads(body_a), json.loads(body_b)
    except ValueError:
        diffs.append(f"body: {len(body_a)} bytes != {len(body_b)} bytes")
        return diffs
    ignore = frozenset(ignore_fields)
    _json_diffs(_strip(data_a, ignore), _strip(data_b, ignore), "", diffs)
    return diffs


def excerpt(answer: Answer, limit: int = 2000) -> dict[str, Any]:
    """Status and the start of the body, for reading two answers side by side; secrets masked
    by the logs' rules (servicekit.web.redaction)."""
    body = _decoded(answer)
    try:
        text = json.dumps(redact(json.loads(body)))[:limit]
    except ValueError:
        text = redact_text(body[:limit].decode("utf-8", errors="replace"))
    return {
        "status": answer.status,
        "content_type": answer.headers.get("content-type"),
        "body": text,
    }
