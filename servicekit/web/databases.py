"""A service's own database: created when missing, and never another service's.

Services may share a database server, never a database: the monolith and the orders service both
have an app labelled `orders` (and every service has the outbox tables), so on one database one
service's migrations would count as the other's and one relay would publish another's rows.
`foreign_database_error` reads the migrations table: applied migrations of app labels this
service does not have mean the database belongs to someone else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from servicekit.web.tls.stores import libpq_tls_parameters

logger = logging.getLogger(__name__)

MIGRATIONS_TABLE = "django_migrations"


class ForeignDatabaseError(RuntimeError):
    """The configured database holds another service's migrations: refusing to start."""


def foreign_app_labels(applied: Iterable[str], own: Iterable[str]) -> set[str]:
    """App labels with applied migrations that are not this service's."""
    return set(applied) - set(own)


def describe_database(settings_dict: Mapping[str, Any]) -> str:
    """`strangler_monolith on 127.0.0.1:5432` or the SQLite file: no credentials."""
    name = str(settings_dict.get("NAME") or "")
    host = settings_dict.get("HOST") or ""
    port = settings_dict.get("PORT") or ""
    where = f"{host}:{port}" if host and port else host
    return f"database {name!r}" + (f" on {where}" if where else "")


def foreign_database_message(*, service: str, database: str, foreign: set[str]) -> str:
    return (
        f"the {service} service refuses to use {database}: it is another service's database. "
        f"Its migrations table has migrations applied for apps the {service} service does not "
        f"have ({', '.join(sorted(foreign))}). Give every service its own database: set "
        f"{service.upper()}_DATABASE_URL, or let DATABASE_URL name the server and a prefix "
        f"(each service then uses <prefix>_<service>; see servicekit/web/env.py)."
    )


def foreign_database_error(using: str = "default") -> str | None:
    """Why the `using` database is not this service's, or None when it is (or is empty).

    Reads settings (SERVICE_NAME, SERVICEKIT_RETIRED_APP_LABELS: labels of apps this service
    removed whose migration rows stay) and the app registry: call after `django.setup()`.
    """
    from django.apps import apps
    from django.conf import settings
    from django.db import connections

    connection = connections[using]
    with connection.cursor() as cursor:
        if MIGRATIONS_TABLE not in connection.introspection.table_names(cursor):
            return None
        cursor.execute(f"SELECT DISTINCT app FROM {MIGRATIONS_TABLE}")  # noqa: S608
        applied = [row[0] for row in cursor.fetchall()]
    own = [config.label for config in apps.get_app_configs()]
    own += list(getattr(settings, "SERVICEKIT_RETIRED_APP_LABELS", ()))
    foreign = foreign_app_labels(applied, own)
    if not foreign:
        return None
    return foreign_database_message(
        service=getattr(settings, "SERVICE_NAME", "this"),
        database=describe_database(connection.settings_dict),
        foreign=foreign,
    )


def database_refuse_foreign(using: str = "default") -> None:
    """Raise `ForeignDatabaseError` when the database is another service's (at process start).

    An unreachable database is not refused here: the readiness check reports it, and the
    check runs again in `migrate` before anything is written.
    """
    from django.db import DatabaseError

    try:
        problem = foreign_database_error(using)
    except DatabaseError as exc:
        logger.warning("database_ownership_unchecked", extra={"error": str(exc)})
        return
    if problem:
        raise ForeignDatabaseError(problem)


def check_own_database(app_configs=None, databases=None, **kwargs) -> list:
    """System check (tag `database`; `migrate` runs it first): the database is this service's."""
    from django.core.checks import Error

    errors = []
    for using in databases or ():
        if problem := foreign_database_error(using):
            errors.append(Error(problem, id="servicekit.E001"))
    return errors


def refuse_foreign_before_migrate(sender, using: str = "default", **kwargs) -> None:
    """`pre_migrate` receiver: `migrate --skip-checks` and `call_command("migrate")` skip the
    system checks, not this."""
    if problem := foreign_database_error(using):
        raise ForeignDatabaseError(problem)


def postgres_database_create(settings_dict: Mapping[str, Any]) -> bool:
    """Create the PostgreSQL database `settings_dict` names when it does not exist.

    Connects to the server's `postgres` maintenance database with the same credentials; the role
    needs CREATEDB only when the database is missing. Returns whether it created it.
    """
    import psycopg
    from psycopg import sql

    name = settings_dict["NAME"]
    params = {
        "dbname": "postgres",
        "host": settings_dict.get("HOST") or None,
        "port": settings_dict.get("PORT") or None,
        "user": settings_dict.get("USER") or None,
        "password": settings_dict.get("PASSWORD") or None,
        **libpq_tls_parameters(settings_dict.get("OPTIONS")),
        "connect_timeout": (settings_dict.get("OPTIONS") or {}).get("connect_timeout"),
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as conn:
        conn.autocommit = True
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            return False  # another process made it meanwhile
    return True


def database_create_if_missing(settings_dict: Mapping[str, Any]) -> bool:
    """Create the service's database when missing (PostgreSQL; a SQLite file makes itself)."""
    if settings_dict["ENGINE"].endswith("postgresql"):
        return postgres_database_create(settings_dict)
    return False
