"""The events pipeline's hot statements on PostgreSQL, as server-side prepared statements.

Django's psycopg backend binds parameters client-side and never prepares, so every execution of
the relay's claim or the inbox's batch load is parsed and planned again: on these statements
planning costs several times their execution. `execute` keeps each one prepared per connection
(psycopg's cache), with Django's connection handling (health check, error wrapping) around it;
`execute_pipelined` sends several in one round trip (psycopg's pipeline mode).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

Params = Sequence[Any] | Mapping[str, Any]
Result = tuple[list[tuple], int]  # rows, rowcount


def execute(sql: str, params: Params, *, using: str = DEFAULT_DB_ALIAS) -> Result:
    """Run `sql` (`%s` / `%(name)s` placeholders) prepared; returns (rows, rowcount)."""
    return execute_pipelined([(sql, params)], using=using)[0]


def execute_pipelined(
    statements: Sequence[tuple[str, Params]], *, using: str = DEFAULT_DB_ALIAS
) -> list[Result]:
    """Run statements in order, prepared, with one round trip. In autocommit mode they form one
    implicit transaction (each sees the ones before it); inside `atomic`, the caller's."""
    import psycopg

    connection = connections[using]
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    raw = connection.connection
    with connection.wrap_database_errors:
        threshold = raw.prepare_threshold
        raw.prepare_threshold = 0  # None (Django's default) disables preparing altogether
        try:
            cursors = [psycopg.Cursor(raw) for _ in statements]
            try:
                if len(statements) == 1:
                    cursors[0].execute(statements[0][0], statements[0][1], prepare=True)
                else:
                    with raw.pipeline():
                        for cursor, (sql, params) in zip(cursors, statements, strict=True):
                            cursor.execute(sql, params, prepare=True)
                return [
                    (cursor.fetchall() if cursor.description is not None else [], cursor.rowcount)
                    for cursor in cursors
                ]
            finally:
                for cursor in cursors:
                    cursor.close()
        finally:
            raw.prepare_threshold = threshold
