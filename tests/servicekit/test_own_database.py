"""Every service on its own database, from one setting; another service's database is refused.

On the real-server pass (DATABASE_URL set) the databases are fresh PostgreSQL databases on that
server, dropped afterwards; otherwise SQLite files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from servicekit.web.databases import foreign_app_labels, foreign_database_message
from servicekit.web.env import database_config, database_url, service_database_url
from tests.support.fleet import ROOT, postgres_database

MANAGE = {"monolith": "manage.py", "orders": "extracted/orders/manage.py"}
WSGI = {"monolith": "monolith.wsgi", "orders": "extracted.orders.wsgi"}


@pytest.fixture
def shared_database(tmp_path):
    """One database URL both services will be pointed at."""
    server = os.environ.get("DATABASE_URL", "")
    if not server.startswith("postgres"):
        yield f"sqlite:///{tmp_path}/shared.sqlite3"
        return
    name = f"shared_{uuid.uuid4().hex[:8]}"
    url = postgres_database(server, name)
    yield url
    postgres_database(server, name, drop=True)


def service_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    drop = ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "STRANGLER_TEST_DB_SUFFIX")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.endswith("_DATABASE_URL")}
    return {
        **env,
        "DJANGO_ENV": "test",
        "STRANGLER_DATA_DIR": str(tmp_path / "data"),
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def manage(service: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, MANAGE[service], *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def start_web(service: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """What gunicorn does first: import the service's wsgi module."""
    return subprocess.run(
        [sys.executable, "-c", f"import {WSGI[service]}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_database_url_names_a_server_and_a_prefix():
    shared = {"DATABASE_URL": "postgres://u:p@db:5432/strangler?sslmode=require"}
    urls = {s: database_url(service=s, environ=shared) for s in ("monolith", "orders")}
    assert urls == {
        "monolith": "postgres://u:p@db:5432/strangler_monolith?sslmode=require",
        "orders": "postgres://u:p@db:5432/strangler_orders?sslmode=require",
    }
    assert service_database_url("postgres://u@db:5432", "catalog") == "postgres://u@db:5432/catalog"


def test_a_service_url_is_used_as_given(tmp_path):
    environ = {
        "STRANGLER_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://u@db:5432/strangler",
        "CATALOG_DATABASE_URL": "postgres://c@other:5433/catalog_prod",
    }
    catalog = database_config(service="catalog", environ=environ)
    assert (catalog["HOST"], catalog["PORT"], catalog["NAME"]) == ("other", 5433, "catalog_prod")
    assert database_config(service="orders", environ=environ)["NAME"] == "strangler_orders"


def test_a_sqlite_url_gives_a_file_per_service(tmp_path):
    environ = {"DATABASE_URL": f"sqlite:///{tmp_path}/db/strangler.sqlite3"}
    names = {s: database_config(service=s, environ=environ)["NAME"] for s in ("monolith", "users")}
    assert names == {
        "monolith": f"{tmp_path}/db/strangler_monolith.sqlite3",
        "users": f"{tmp_path}/db/strangler_users.sqlite3",
    }
    # the embedded file's WAL and busy timeout, too: web process and workers share the file
    assert database_config(service="users", environ=environ)["OPTIONS"]["timeout"] == 20


def test_the_error_names_the_service_the_database_and_the_foreign_apps():
    foreign = foreign_app_labels(["orders", "catalog", "storefront", "auth"], ["orders", "auth"])
    message = foreign_database_message(
        service="orders", database="database 'strangler_monolith'", foreign=foreign
    )
    assert "the orders service refuses to use database 'strangler_monolith'" in message
    assert "(catalog, storefront)" in message
    assert "ORDERS_DATABASE_URL" in message


def test_a_service_refuses_the_monolith_database(tmp_path, shared_database):
    # given: the monolith migrated into a database
    monolith = manage(
        "monolith", service_env(tmp_path, MONOLITH_DATABASE_URL=shared_database), "migrate"
    )
    assert monolith.returncode == 0, monolith.stderr
    orders_env = service_env(tmp_path, ORDERS_DATABASE_URL=shared_database)

    # when: the orders service is pointed at that same database
    migrate = manage("orders", orders_env, "migrate", "--noinput")
    migrate_unchecked = manage("orders", orders_env, "migrate", "--noinput", "--skip-checks")
    start = start_web("orders", orders_env)

    # then: it neither migrates (its `orders.0001_initial` would count as applied) nor serves
    for result in (migrate, migrate_unchecked, start):
        assert result.returncode != 0, result.stdout + result.stderr
        assert "the orders service refuses to use database" in result.stderr, result.stderr
        assert "(admin, catalog, notifications, sessions, users)" in result.stderr
    assert "Applying" not in migrate.stdout + migrate_unchecked.stdout


def test_one_database_url_gives_each_service_its_own(tmp_path, shared_database):
    # given: one URL, as a user sets it; each service derives its own database from it
    env = service_env(tmp_path, DATABASE_URL=shared_database)
    from servicekit.web.databases import database_create_if_missing

    own = {s: database_config(service=s, environ=env) for s in MANAGE}
    assert own["monolith"]["NAME"] != own["orders"]["NAME"]
    try:
        for config in own.values():
            database_create_if_missing(config)

        # when: both migrate, the monolith first
        for service in ("monolith", "orders"):
            result = manage(service, env, "migrate", "--noinput")
            assert result.returncode == 0, result.stderr

        # then: the orders service's own migrations ran, and it starts
        plan = manage("orders", env, "showmigrations", "history", "payments", "orders")
        assert "[ ]" not in plan.stdout, plan.stdout
        start = start_web("orders", env)
        assert start.returncode == 0, start.stderr
    finally:
        server = os.environ.get("DATABASE_URL", "")
        if server.startswith("postgres"):
            for config in own.values():
                postgres_database(server, config["NAME"], drop=True)
