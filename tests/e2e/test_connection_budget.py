"""A fleet holds no more PostgreSQL connections than `make run` says it does.

`make run` prints the most connections its processes hold together (scripts/run.py:
`fleet_connections`: each service's pool bounds a process, servicekit.web.env.database_pool). On
the real pass the shared fleet connects as a role of its own that PostgreSQL holds to that number
(and the operator's commands): one connection more is refused, and the request that needed it
fails. Here every service's web workers are kept busy at once on a path that takes a database
connection; every answer must be a 200, and the fleet's log must show no refused connection. Two
fleets (`make run` beside `make cost`) must fit PostgreSQL's default `max_connections` of 100.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from servicekit.web.ports import path_of
from servicekit.web.procfile import read_procfile
from tests.support.backends import require_or_skip
from tests.support.fleet import OPERATOR_CONNECTIONS, admin_connection, run_script

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

DEFAULT_MAX_CONNECTIONS = 100  # PostgreSQL's default, which a user's server likely keeps
CLIENTS_PER_SERVICE = 16  # twice a service's gunicorn threads (2 workers x 4): all busy
REQUESTS_PER_CLIENT = 6


def test_a_busy_fleet_stays_within_its_connection_budget(shop_fleet):
    if "DATABASE_URL" not in shop_fleet:
        require_or_skip("postgres", "the connection budget is PostgreSQL's")
    run = run_script()
    most = run.fleet_connections(read_procfile(ROOT / "Procfile"), shop_fleet)
    assert most is not None
    assert 2 * most <= DEFAULT_MAX_CONNECTIONS - 3, (
        f"two fleets ({most} connections each) do not fit PostgreSQL's default max_connections "
        "with its 3 reserved"
    )
    role = urlsplit(shop_fleet["DATABASE_URL"]).username
    with admin_connection(os.environ["DATABASE_URL"]) as admin:
        (limit,) = admin.execute(
            "SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", [role]
        ).fetchone()
        assert limit == most + OPERATOR_CONNECTIONS

        peak, done = [0], threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                (held,) = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [role]
                ).fetchone()
                peak[0] = max(peak[0], held)

        def ask(url: str) -> list[int]:
            with requests.Session() as session:
                return [
                    session.get(url, timeout=60).status_code for _ in range(REQUESTS_PER_CLIENT)
                ]

        # each service's readiness check holds a connection while it also reaches the broker
        urls = [f"{shop_fleet[name.upper()]}{path_of(name, 'ready')}" for name in run.MANAGE]
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            with ThreadPoolExecutor(len(urls) * CLIENTS_PER_SERVICE) as pool:
                answers = list(pool.map(ask, urls * CLIENTS_PER_SERVICE))
        finally:
            done.set()
            sampler.join()

    statuses = [status for answer in answers for status in answer]
    assert statuses.count(200) == len(statuses), sorted(set(statuses))
    log = (Path(shop_fleet["STRANGLER_DATA_DIR"]) / "fleet.log").read_text(errors="replace")
    assert "too many connections" not in log
    assert "too many clients" not in log
    # the burst reached the database: more than one connection per web service at once
    assert peak[0] > len(urls), peak[0]
    print(f"connections: peak {peak[0]} sampled, at most {most} by make run, limit {limit}")
