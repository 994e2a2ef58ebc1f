"""The events pipeline's hot statements on PostgreSQL, as server-side prepared statements.

Django's psycopg backend binds parameters client-side and never prepares, so every execution of
the relay's claim or the inbox's batch load is parsed and planned again: on these statements
planning costs several times their execution. `execute` keeps each one prepared per connection
(psycopg's cache), with Django's connection handling (health check, error wrapping) around it;
`execute_pipelined` sends several in one round trip (psycopg's pipeline mode), and
`handlers_pipelined` runs a block (the inbox's handlers of one batch) in that mode.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, Sequence
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

    with _preparing(using) as raw:
        # inside `handlers_pipelined` a result is only there once waited for (a server-binding
        # cursor: Django's own binds client-side, which cannot prepare)
        cursors = [_reading_waits(psycopg.Cursor)(raw) for _ in statements]
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


def send(sql: str, params: Params, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Run `sql` prepared without reading its result. Inside `handlers_pipelined` it goes out
    with the block's next round trip, and a failure raises by the end of the block; elsewhere
    it runs at once and a failure raises here."""
    import psycopg

    with _preparing(using) as raw, psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, params, prepare=True)


@contextlib.contextmanager
def _preparing(using: str) -> Iterator[Any]:
    """The psycopg connection under Django's handling, preparing every statement run on it."""
    connection = connections[using]
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    raw = connection.connection
    with connection.wrap_database_errors:
        threshold = raw.prepare_threshold
        raw.prepare_threshold = 0  # None (Django's default) disables preparing altogether
        try:
            yield raw
        finally:
            raw.prepare_threshold = threshold


@contextlib.contextmanager
def handlers_pipelined(*, using: str = DEFAULT_DB_ALIAS) -> Iterator[bool]:
    """On PostgreSQL, run the block in psycopg's pipeline mode: statements whose results nobody
    reads (a handler's INSERT, UPDATE, SAVEPOINT) go out without waiting for the server, so a
    batch of handlers costs a few round trips instead of one per statement. Yields whether it
    pipelines (False elsewhere, and the block runs as usual).

    Reading a result still waits for it: fetching rows, and, through Django's cursors created
    here, `rowcount`, `description`, `statusmessage` (Django's `save()` and `update()` read the
    row count). What changes is when a failed statement raises: at the next read, or when the
    block ends. Callers treat any error in the block as a failure of the whole block.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield False
        return
    connection.ensure_connection()
    raw = connection.connection
    factory = raw.cursor_factory
    raw.cursor_factory = _reading_waits(factory)
    try:
        with connection.wrap_database_errors, raw.pipeline():
            yield True
    finally:
        raw.cursor_factory = factory


@functools.cache
def _reading_waits(cursor_class: type) -> type:
    """`cursor_class` whose result attributes wait for the result in pipeline mode, the way
    psycopg's fetch methods do (psycopg itself answers them from the previous result, or None)."""

    class ReadingWaits(cursor_class):
        @property
        def rowcount(self) -> int:
            self._fetch_pipeline()
            return super().rowcount

        @property
        def description(self):
            self._fetch_pipeline()
            return super().description

        @property
        def statusmessage(self) -> str | None:
            self._fetch_pipeline()
            return super().statusmessage

        def nextset(self) -> bool | None:
            self._fetch_pipeline()
            return super().nextset()

    ReadingWaits.__name__ = ReadingWaits.__qualname__ = f"ReadingWaits{cursor_class.__name__}"
    return ReadingWaits
