"""Keep an id sequence ahead of rows copied in with their ids (backfills and mirrors)."""

from __future__ import annotations

from django.db import connection, models


def id_sequence_catch_up(model: type[models.Model]) -> None:
    """After inserting rows with explicit ids, make the next generated id follow the largest.

    PostgreSQL's sequences do not move on explicit ids; SQLite's AUTOINCREMENT does by itself.
    """
    if connection.vendor != "postgresql":
        return
    table = model._meta.db_table
    column = model._meta.pk.column
    quote = connection.ops.quote_name  # names from the model's meta, never from input
    sql = "SELECT setval(pg_get_serial_sequence(%s, %s), MAX({c})) FROM {t} HAVING MAX({c}) IS NOT NULL"
    with connection.cursor() as cursor:
        cursor.execute(sql.format(c=quote(column), t=quote(table)), [table, column])
