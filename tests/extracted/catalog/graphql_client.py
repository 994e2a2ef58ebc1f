"""Sending GraphQL documents to the catalog service in tests: text, by hash, over GET or POST."""

from __future__ import annotations

import json

from extracted.catalog.graphql_api import persisted

URL = "/api/v1/graphql/"


def operation(name: str) -> str:
    """An allow-listed document's text, as a client ships it."""
    return (persisted.OPERATIONS_DIR / f"{name}.graphql").read_text()


def by_hash(name: str) -> dict:
    digest = persisted.document_hash(operation(name))
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def post(client, query: str | None = None, variables: dict | None = None, **body):
    payload = {"query": query, "variables": variables or {}, **body}
    return client.post(URL, data=json.dumps(payload), content_type="application/json")


def get(client, **params):
    encoded = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    return client.get(URL, encoded, HTTP_ACCEPT="application/json")
