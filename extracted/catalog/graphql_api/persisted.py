"""Persisted (allow-listed) GraphQL documents: the operations our clients ship, by SHA-256.

The documents live in `operations/*.graphql`, reviewed like code; `persisted_queries.json` maps
each one's hash to its text and is generated from them (`manage.py graphql_allowlist`, and
`--check` in tests). A client sends the hash the way Apollo's persisted-query link does:
`{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}}`, in a POST body or
as GET parameters (a cacheable GET the proxy may retry). With `GRAPHQL_PERSISTED_ONLY` on
(production's default) nothing else runs: an attacker cannot send a document we never wrote.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
OPERATIONS_DIR = HERE / "operations"
MANIFEST = HERE / "persisted_queries.json"


def document_hash(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def manifest_build() -> dict[str, str]:
    """Hash -> document text, for every operation file, in a stable order."""
    documents = (path.read_text() for path in sorted(OPERATIONS_DIR.glob("*.graphql")))
    return {document_hash(text): text for text in documents}


def manifest_render(manifest: dict[str, str]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


@functools.cache
def allow_list() -> dict[str, str]:
    """The committed manifest, read once per process (it changes only with a deploy)."""
    return json.loads(MANIFEST.read_text())


class PersistedQueryError(ValueError):
    """The request names a document the allow-list does not hold; `code` says which case."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def document_resolve(
    *, query: str | None, extensions: dict | None, persisted_only: bool
) -> str | None:
    """The document to run: the allow-listed text a hash names, or the client's own text
    when that is allowed. Raises PersistedQueryError otherwise."""
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is not None:
        wanted = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if not isinstance(wanted, str):
            raise PersistedQueryError(
                "PERSISTED_QUERY_INVALID", "extensions.persistedQuery.sha256Hash must be a string"
            )
        document = allow_list().get(wanted)
        if document is None:
            raise PersistedQueryError(
                "PERSISTED_QUERY_NOT_FOUND", f"no persisted query has the hash {wanted[:64]}"
            )
        if query is not None and query != document:
            raise PersistedQueryError(
                "PERSISTED_QUERY_MISMATCH", "the query text does not match its sha256Hash"
            )
        return document
    if persisted_only and query is not None and document_hash(query) not in allow_list():
        raise PersistedQueryError(
            "PERSISTED_QUERY_REQUIRED",
            "only persisted queries run here: send extensions.persistedQuery.sha256Hash",
        )
    return query
