"""Each process's PostgreSQL connections come from a pool (servicekit.web.env.database_pool).

The sum `make run` prints is what the Procfile's commands hold at most (scripts/run.py:
`fleet_connections`); tests/e2e/test_connection_budget.py holds a busy fleet to it on a real
server. Here: the per-command bounds, and a served monolith whose database stops taking
connections answers 503 `database_unavailable` within its pool's timeout (no 500, no hang), then
serves again once the database takes connections again, without a restart.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests

from servicekit.web.procfile import GRPC_THREADS, database_connections, read_procfile
from tests.support.backends import require_or_skip
from tests.support.fleet import admin_connection, monolith, run_script

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("command", "pooled", "unpooled"),
    [
        ("gunicorn m.wsgi:application --workers 2 --threads 4 --bind 127.0.0.1:1", 4, 8),
        ("gunicorn m.wsgi:application -w 3 --bind 127.0.0.1:1", 3, 3),
        ("celery -A monolith worker --beat --concurrency 2", 3, 3),
        ("python extracted/catalog/manage.py grpc_serve --port 1", 2, GRPC_THREADS),
        ("python extracted/catalog/manage.py grpc_serve --workers 1", 1, 1),
        ("python manage.py outbox_relay", 2, 2),  # its own connection and the one it LISTENs on
        ("python manage.py inbox_consume monolith.orders", 1, 1),
    ],
)
def test_a_command_holds_at_most_its_threads_or_its_pool(command, pooled, unpooled):
    assert database_connections(command, 2) == pooled
    assert database_connections(command, 0) == unpooled


def test_make_run_prints_the_fleet_connection_budget(tmp_path):
    run = run_script()
    processes = read_procfile(ROOT / "Procfile")
    postgres = {
        "DATABASE_URL": "postgres://u@db:5432/strangler",
        "STRANGLER_DATA_DIR": str(tmp_path),
    }
    pooled = run.fleet_connections(processes, postgres)
    unpooled = run.fleet_connections(processes, {**postgres, "DATABASE_POOL_SIZE": "0"})
    # two fleets (make run, make cost) fit PostgreSQL's default 100 with the pool, not without
    assert 2 * pooled <= 97 < 2 * unpooled
    assert run.fleet_connections(processes, {"STRANGLER_DATA_DIR": str(tmp_path)}) is None
    assert f"at most {pooled} to PostgreSQL" in run.banner(
        {**os.environ, **run.fleet_env(real=False), **postgres}, processes
    )


@pytest.mark.integration
def test_a_database_that_refuses_connections_is_a_503_then_serves_again(tmp_path):
    if not os.environ.get("DATABASE_URL"):
        require_or_skip("postgres", "the pool is PostgreSQL's")
    env = {"DATABASE_POOL_SIZE": "2", "DATABASE_POOL_TIMEOUT": "1"}
    with monolith(tmp_path, env=env) as service:
        products = f"{service.url}/api/v1/products/"
        assert requests.get(products, timeout=30).status_code == 200
        database = service.database_name
        admin = admin_connection(os.environ["DATABASE_URL"])
        try:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [database],
            )
            began = time.monotonic()
            refused = requests.get(products, timeout=30)
            waited = time.monotonic() - began
        finally:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
            admin.close()
        assert refused.status_code == 503, refused.text
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert refused.headers["Retry-After"] == "2"
        assert refused.json()["code"] == "database_unavailable"
        assert waited < 20, waited  # the pool's timeout, not the client's
        deadline = time.monotonic() + 30
        while (answer := requests.get(products, timeout=30)).status_code != 200:
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.5)


def test_the_docs_give_the_sums_make_run_prints(tmp_path):
    run = run_script()
    processes = read_procfile(ROOT / "Procfile")
    postgres = {"DATABASE_URL": "postgres://u@db:5432/s", "STRANGLER_DATA_DIR": str(tmp_path)}
    pooled = run.fleet_connections(processes, postgres)
    unpooled = run.fleet_connections(processes, {**postgres, "DATABASE_POOL_SIZE": "0"})
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"prints what the fleet holds at most ({pooled})" in readme
    scale = " ".join((ROOT / "docs" / "running-at-scale.md").read_text().split())
    assert f"`connections at most {pooled} to PostgreSQL`" in scale
    assert f"a fleet could hold {unpooled}" in scale
    assert f"two fleets need at most {2 * pooled}" in scale
    assert f"({pooled} with 2)" in (ROOT / ".env.example").read_text()
