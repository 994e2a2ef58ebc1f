"""One `make run` fleet shared by the end-to-end tests that drive the shop through the proxy.

Starting what `make run` starts (about 40 processes, five databases migrated and seeded) takes
most of a minute on a 2-core machine, so the tests that need the whole fleet share one
(`shop_fleet`) and run in the order of `FLEET_ORDER`: each leaves the fleet as the next one
expects it. The live migration comes last: it moves every route to the extracted services for
good, on a shop that has already seen the others' orders, sign-ups and edits (its invariants are
about what its own clients were told, and about owner and mirror agreeing on every row).
"""

from __future__ import annotations

import pytest

from tests.support.browser import browser, chromium  # noqa: F401  (fixtures)
from tests.support.fleet import procfile_fleet

# What each test asks of the fleet, in one environment:
# - tokens that expire during the load and the migration, so clients must renew them (60 s:
#   long enough for one takeover command to use the staff token it was given);
# - a sign-up and login rate a load of several clients stays under;
# - every process's spans written to one file (the one-trace test reads it);
# - the control centre sampling its plots every half second.
SHOP_FLEET_ENV = {
    "JWT_ACCESS_TTL": "60",
    "AUTH_THROTTLE_RATE": "600/min",
    "STRANGLER_CONTROL_SERIES_STEP": "0.5",
}
TRACES_FILE = "traces.jsonl"
# Modules using `shop_fleet`, in the order they run; the others run before them.
FLEET_ORDER = [
    "test_one_trace",
    "test_control_centre_fleet",
    "test_make_load",
    "test_connection_budget",
    "test_live_migration",
]


@pytest.fixture(scope="package")
def shop_fleet(tmp_path_factory):
    """What `make run` starts, on free ports and a fresh data folder (on the real pass, fresh
    databases, a broker vhost and a Redis database of its own): its environment, with PROXY,
    MONOLITH, CATALOG... naming each web process's URL and OTEL_TRACES_FILE its span file.
    On the real pass it connects as a role PostgreSQL holds to the connections `make run` says
    a fleet holds at most (test_connection_budget)."""
    data = tmp_path_factory.mktemp("shop-fleet")
    with procfile_fleet(
        data,
        env={**SHOP_FLEET_ENV, "OTEL_TRACES_FILE": str(data / TRACES_FILE)},
        connection_limit=True,
    ) as env:
        yield env


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def position(item: pytest.Item) -> int:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        return FLEET_ORDER.index(module) + 1 if module in FLEET_ORDER else 0

    items.sort(key=position)  # stable: the others keep their order, first
