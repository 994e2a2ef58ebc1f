"""What counts as a secret and how it is masked: the one set of rules for logs, shadow
differences and captured traffic (servicekit.logging, strangler_proxy.shadow)."""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

REDACTED = "[redacted]"
# Matched anywhere in a key: `password_hash`, `access_token`, `X-Api-Key`, `refresh`.
SENSITIVE_KEYS = re.compile(
    r"pass(word)?|pwd|secret|token|authorization|cookie|api[_-]?key|refresh|access|private"
    r"|credential|session|csrf|signature",
    re.IGNORECASE,
)
# Short words matched only as a whole part of a key (`card_number`, `cardPin`), so that
# `shipping` is not a pin and `cardinality` not a card.
SENSITIVE_WORDS = frozenset({"pin", "cvv", "cvc", "cvv2", "otp", "card", "ssn", "iban"})
_KEY_PARTS = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+")
_PAIR = re.compile(r"(?P<key>[A-Za-z0-9_.\[\]-]+)=(?P<value>[^&\s;,\"']+)")


def is_sensitive_key(key: object) -> bool:
    """A field, header, query or form name whose value is a secret."""
    return _is_sensitive_name(str(key))


@functools.lru_cache(maxsize=4096)
def _is_sensitive_name(text: str) -> bool:
    # Cached: every log line asks about the same few dozen keys (event, request_id, level...).
    if SENSITIVE_KEYS.search(text):
        return True
    return any(part.lower() in SENSITIVE_WORDS for part in _KEY_PARTS.split(text))


def redact_text(text: str, marker: str = REDACTED) -> str:
    """Bearer tokens, JWTs and `key=value` pairs with a sensitive key masked in free text."""
    # Most text (every log line's values) holds none of them: three scans in C, not three subs.
    if "=" not in text and "eyJ" not in text and "bearer" not in text.lower():
        return text
    text = _BEARER.sub(lambda m: m.group(1) + marker, text)
    text = _JWT.sub(marker, text)
    return _PAIR.sub(
        lambda m: f"{m.group('key')}={marker}" if is_sensitive_key(m.group("key")) else m.group(0),
        text,
    )


def redact(value: Any, marker: str = REDACTED) -> Any:
    """A copy of JSON-like data with values under sensitive keys (at any depth) and tokens in
    strings masked."""
    if isinstance(value, str):
        return redact_text(value, marker)
    if isinstance(value, dict):
        return {k: (marker if is_sensitive_key(k) else redact(v, marker)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v, marker) for v in value)
    return value


def redact_query(query: str, marker: str = REDACTED) -> str:
    """A query string with the values of sensitive parameters masked (`?access_token=...`)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    masked = [(k, marker if is_sensitive_key(k) else redact_text(v, marker)) for k, v in pairs]
    return urlencode(masked, safe="[]/:", quote_via=quote)


def redact_target(target: str, marker: str = REDACTED) -> str:
    """A request target (`/path?query`) with secret query parameters masked."""
    path, sep, query = target.partition("?")
    return f"{path}?{redact_query(query, marker)}" if sep else path
