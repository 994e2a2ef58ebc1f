"""Header fields as the proxy holds them (lists of `(name, value)` pairs): what a name may be
made of, and a list filtered by lower-case name without Python code per field."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from itertools import compress
from operator import not_

# RFC 9110 section 5.6.2: the characters of a token (a header field's name), as a class of a
# regular expression
TCHAR = r"[!#$%&'*+.^_`|~0-9A-Za-z-]"
_TOKEN = re.compile(rf"{TCHAR}+")
# Per request the same few dozen names come and go: each is checked once per process (bounded,
# as a client or an upstream chooses the names).
TOKEN_NAMES: dict[str, str] = {}  # a name known to be a token -> its lower case
NAMES_KEPT = 2048


def token_lower(name: str) -> str | None:
    """`name` in lower case when it is an HTTP token, else None."""
    lower = TOKEN_NAMES.get(name)
    if lower is None and _TOKEN.fullmatch(name):
        lower = name.lower()
        if len(TOKEN_NAMES) < NAMES_KEPT:
            TOKEN_NAMES[name] = lower
    return lower


def kept(
    pairs: list[tuple[str, str]], lowered: Iterable[str], skip: Collection[str]
) -> list[tuple[str, str]]:
    """The pairs whose lower-case name (`lowered`, in step with them) is not in `skip`."""
    return list(compress(pairs, map(not_, map(skip.__contains__, lowered))))
