"""Comparing the candidate's answer with the primary's as a client would notice (pure)."""

from __future__ import annotations

import functools
import gzip
import json
import re
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


MASK = "\u2026ignored\u2026"
CONTEXT = 40  # characters shown either side of the first difference in a text body


@functools.lru_cache(maxsize=256)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for p in patterns)


def _masked(text: str, patterns: tuple[str, ...]) -> str:
    """`text` with every match of `patterns` replaced by MASK; where a pattern has groups, only
    their text is (`value="([^"]+)"` keeps `value="..."` around the token)."""
    for regex in _compiled(patterns):
        text = regex.sub(_mask_groups, text)
    return text


def _mask_groups(match: re.Match[str]) -> str:
    groups = match.re.groups
    if not groups:
        return MASK
    whole, start = match.group(0), match.start()
    out, last = "", 0
    for index in range(1, groups + 1):
        if match.start(index) < 0:
            continue
        out += whole[last : match.start(index) - start] + MASK
        last = match.end(index) - start
    return out + whole[last:]


def _text_diff(a: str, b: str) -> str:
    """Where two texts part: line, column and what each side holds there."""
    index = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    line = a.count("\n", 0, index) + 1
    column = index - (a.rfind("\n", 0, index) + 1) + 1
    start = max(0, index - CONTEXT)

    def around(text: str) -> str:
        shown = text[start : index + CONTEXT]
        return (
            ("\u2026" if start else "") + shown + ("\u2026" if index + CONTEXT < len(text) else "")
        )

    sizes = f"{len(a)} vs {len(b)} characters" if len(a) != len(b) else f"{len(a)} characters"
    return (
        f"body: differs at line {line}, column {column} ({sizes}): {around(a)!r} != {around(b)!r}"
    )


def compare(
    primary: Answer,
    candidate: Answer,
    *,
    ignore_fields: tuple[str, ...] = (),
    ignore_headers: tuple[str, ...] = (),
    ignore_patterns: tuple[str, ...] = (),
) -> list[str]:
    """Differences a client could notice: status, Content-Type, where a redirect leads, body
    (JSON compared as data; other text where it first differs, `ignore_patterns` masked)."""
    diffs: list[str] = []
    if primary.status != candidate.status:
        diffs.append(f"status: {primary.status} != {candidate.status}")
    for name in ("content-type", "location"):
        if name in ignore_headers:
            continue
        a, b = primary.headers.get(name), candidate.headers.get(name)
        if ignore_patterns and a is not None and b is not None:
            a, b = _masked(a, ignore_patterns), _masked(b, ignore_patterns)
        if a != b:
            diffs.append(f"header {name}: {a!r} != {b!r}")
    body_a, body_b = _decoded(primary), _decoded(candidate)
    if body_a == body_b:
        return diffs
    try:
        data_a, data_b = json.loads(body_a), json.loads(body_b)
    except ValueError:
        try:
            text_a, text_b = body_a.decode(), body_b.decode()
        except UnicodeDecodeError:
            index = next(
                (i for i, (x, y) in enumerate(zip(body_a, body_b, strict=False)) if x != y),
                min(len(body_a), len(body_b)),
            )
            diffs.append(f"body: binary, differs at byte {index} ({len(body_a)} vs {len(body_b)})")
            return diffs
        if ignore_patterns:
            text_a, text_b = _masked(text_a, ignore_patterns), _masked(text_b, ignore_patterns)
        if text_a != text_b:
            diffs.append(_text_diff(text_a, text_b))
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
