"""`make load` headless against a `make run` fleet while the catalog's reads flip: no 5xx.

The fleet is what `make run` starts, shared by the e2e tests (tests/e2e/conftest.py); `make load` runs Locust headless
(bounded by `-t`) with its realistic mix (loadtest/locustfile.py). Meanwhile the operator moves
the catalog's read routes to the catalog service and back with chapter 04's commands, and the
proxy's traffic counts show the load's reads answered by each side in turn. Once Locust's
statistics (its CSV, rewritten every second) show every kind of request of the mix, the run is
ended with SIGTERM (Locust stops its users and writes its final statistics), so a fast machine
takes less time and a slow one is not cut short. The statistics must show not one failure: no 5xx,
no connection error, no 4xx a correct client could not have expected.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from loadtest.products import LOAD_SKUS
from tests.support.processes import stop_process
from tests.support.shop_client import Recorder, ShopClient
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

# The shared fleet's tokens live 60 s (tests/e2e/conftest.py): the users renew them during the
# run, before its statistics show every kind of request.
RUN_LIMIT = 240  # seconds: the run's bound (-t); it is ended earlier, once it showed everything
READ_ROUTES = ("catalog-products-read", "catalog-categories-read")
# Every kind of request of the mix: browse, search, register, log in, renew, order, cancel,
# the staff's edits. A name may also appear with the status a client expects, e.g. "[409]".
EXPECTED = {
    "browse a list page": ("GET", "/api/v1/products/?page="),
    "a product": ("GET", "/api/v1/products/{sku}/"),
    "search": ("GET", "/api/v1/products/?q=&ordering="),
    "storefront": ("GET", "/"),
    "register": ("POST", "/api/v1/users/"),
    "log in": ("POST", "/api/v1/auth/token"),
    "renew a token": ("POST", "/api/v1/auth/token/refresh"),
    "order": ("POST", "/api/v1/orders/"),
    "cancel": ("POST", "/api/v1/orders/{id}/cancel/"),
    "staff: edit a product": ("PATCH", "/api/v1/products/{sku}/"),
    "staff: change a price": ("POST", "/api/v1/products/{sku}/price/"),
    "staff: count stock": ("GET", "/api/v1/products/{sku}/inventory/"),
}


def routes_set(env: dict[str, str], route: str, mode: str) -> None:
    """Chapter 04's command."""
    done = subprocess.run(
        [sys.executable, "-m", "strangler_proxy", "routes", "set", route, "--mode", mode],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def served_by(operator: ShopClient, upstream: str) -> int:
    """How many product reads `upstream` answered so far (the proxy's traffic counts)."""
    traffic = operator.call("GET", "/_strangler/traffic").json()
    route = traffic["routes"].get("catalog-products-read", {})
    return route.get("by_upstream", {}).get(upstream, 0)


def product_count(base: str) -> int:
    return requests.get(f"{base}/api/v1/products/?page_size=1", timeout=10).json()["count"]


def requests_by_kind(prefix: Path) -> dict[tuple[str, str], int]:
    """(method, name) -> requests so far, from Locust's CSV; a name's rows with an expected
    status ("[409]") count with it."""
    counts: dict[tuple[str, str], int] = {}
    with open(f"{prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["Type"], row["Name"].split(" [")[0])
            counts[key] = counts.get(key, 0) + int(row["Request Count"])
    return counts


def missing_kinds(prefix: Path) -> list[str]:
    counts = requests_by_kind(prefix)
    return [kind for kind, key in EXPECTED.items() if not counts.get(key)]


def end_run(make: subprocess.Popen) -> None:
    """Ctrl-C, as a reader stops it: SIGINT to the terminal's process group (make and Locust).
    Locust stops its users, prints its summary and writes its statistics."""
    os.killpg(make.pid, signal.SIGINT)


@pytest.mark.timeout(900)
def test_make_load_sees_no_failure_while_the_catalog_reads_flip(shop_fleet, tmp_path):
    env = shop_fleet
    log_path = tmp_path / "locust.log"
    stats = tmp_path / "load"
    with open(log_path, "wb") as log:
        operator = ShopClient(env["PROXY"], Recorder(), name="operator")
        operator.login("staff", "staff-demo-pass")
        # given: `make load`, headless
        load = subprocess.Popen(
            [
                "make",
                "--no-print-directory",
                "load",
                f"PROXY={env['PROXY']}",
                f"ARGS=--headless -u 12 -r 6 -t {RUN_LIMIT}s --csv {stats} --only-summary",
            ],
            cwd=ROOT,
            env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            # when: the staff user put the load's products on the shelf, and the catalog
            # service's copy has them, its reads move there and back while the load runs
            wait_for(
                lambda: (
                    product_count(env["MONOLITH"]) == product_count(env["CATALOG"])
                    and requests.get(
                        f"{env['CATALOG']}/api/v1/products/{LOAD_SKUS[-1]}/", timeout=10
                    ).ok
                ),
                timeout=180,
                what="the load's products in the catalog service's copy",
                # a service slow to answer under the load is "not yet", not a failure
                ignore=(requests.RequestException,),
            )
            for mode, upstream in (("extracted", "catalog"), ("monolith", "monolith")):
                for route in READ_ROUTES:
                    routes_set(env, route, mode)
                mark = served_by(operator, upstream)
                wait_for(
                    lambda upstream=upstream, mark=mark: served_by(operator, upstream) > mark + 5,
                    timeout=120,
                    what=f"the load's product reads answered by the {upstream}",
                )
            wait_for(
                lambda: not missing_kinds(stats),
                timeout=180,
                what="every kind of request in Locust's statistics",
                ignore=(OSError, KeyError, ValueError),  # a file being rewritten
            )
            assert load.poll() is None, f"the run ended before it was done\n{log_path.read_text()}"
            end_run(load)
            load.wait(timeout=120)
        finally:
            stop_process(load, timeout=30, group=True)

    # then: every kind of request was made, and none failed
    output = log_path.read_text(errors="replace")
    assert not missing_kinds(stats), output[-4000:]
    with open(f"{stats}_stats.csv", newline="") as handle:
        total = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
    assert int(total["Failure Count"]) == 0, Path(f"{stats}_failures.csv").read_text()
    # Locust's own exit code (make, interrupted too, reports the interrupt)
    assert "Shutting down (exit code 0)" in output, output[-4000:]
    assert "Aggregated" in output, output[-4000:]
