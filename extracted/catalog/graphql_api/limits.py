"""What a GraphQL document may cost, checked before it runs (each refusal is a GraphQL error).

GraphQL lets a client ask for as much as it can write, so the service bounds the document:
nesting depth (categories > products > category > products ... ), aliases (the same expensive
field asked for N times in one request) and tokens (the document's size, which bounds how many
fields it can select). Lists are bounded by their page size (`schema.MAX_PAGE_SIZE`).
Introspection (the schema, for tools such as GraphiQL) answers only when DEBUG is on.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

# Nested selection sets: `{ categories { products { stock { available } } } }` is 3 deep, the
# deepest our operations go (operations/); one more level is headroom, not a cycle to walk.
MAX_DEPTH = 4
MAX_ALIASES = 10
MAX_TOKENS = 1000


class IntrospectionOnlyInDebug(SchemaExtension):
    """Read at each operation, so a test (or a settings change) flips it without a new schema."""

    def on_operation(self) -> Iterator[None]:
        if not settings.DEBUG:
            self.execution_context.validation_rules = (
                *self.execution_context.validation_rules,
                NoSchemaIntrospectionCustomRule,
            )
        yield


def extensions() -> list:
    """Factories: strawberry builds a fresh extension for each request."""
    return [
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        IntrospectionOnlyInDebug,
    ]
