"""The orders service answers like the monolith, and each order SETTLES like it
(tests/parity/corpus_orders.yaml).

The monolith is seeded with the demo data. The service side is the catalog service (backfilled,
owning products and stock) and the orders service (backfilled: product replica, the monolith's
orders and keys), with their relays and consumers, the fake payment provider and the saga
sweeper running on private queues. Each side owns orders in its own run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid

import pytest
import urllib3
import yaml

from tests.parity.harness import HERE, Rules, Scenario, difference, send
from tests.support import fleet
from tests.support.processes import stop_processes
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

DEMO_PASSWORDS = {"alice": "alice-demo-pass", "bob": "bob-demo-pass", "staff": "staff-demo-pass"}


def _load() -> tuple[dict[str, Rules], list[tuple[Scenario, bool]]]:
    data = yaml.safe_load((HERE / "corpus_orders.yaml").read_text())
    rules = {route: Rules(tuple(r.get("ignore", ()))) for route, r in data["rules"].items()}
    scenarios = []
    for raw in data["scenarios"]:
        settle = bool(raw.pop("settle", False))
        scenarios.append((Scenario(**raw), settle))
    return rules, scenarios


RULES, SCENARIOS = _load()


def _processes(service: fleet.DjangoService, tag: str, events: dict, roles: list[list[str]]):
    env = {
        **service.env,
        "SK_EVENTS_JSON": json.dumps(events),
        "SK_QUEUE_TAG": tag,
    }
    return [
        subprocess.Popen(
            [sys.executable, "-m", "tests.extracted.orders.proc", *role],
            cwd=fleet.ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for role in roles
    ]


@pytest.fixture(scope="module")
def sides(tmp_path_factory):
    data = tmp_path_factory.mktemp("parity-orders")
    (data / "monolith-owns.yaml").write_text("product: monolith\ninventory: monolith\n")
    (data / "services-own.yaml").write_text("product: catalog\ninventory: catalog\norder: orders\n")
    tag = uuid.uuid4().hex[:10]
    common = {
        "EXCHANGE": f"test.parity.orders.{tag}",
        "SUBSCRIPTIONS": {
            "catalog@" + tag: ["catalog.#", "checkout.#"],
            "orders@" + tag: ["orders.#", "catalog.#", "stock.#", "payments.#"],
            "orders.payments@" + tag: ["checkout.#"],
        },
        "RELAY_POLL_INTERVAL": 0.05,
        "INBOX_BACKOFF_BASE": 0.05,
    }
    children: list[subprocess.Popen] = []
    with fleet.monolith(
        data, env={"OWNERSHIP_FILE": str(data / "monolith-owns.yaml")}, setup=[["seed_demo"]]
    ) as monolith:
        services_env = {
            "OWNERSHIP_FILE": str(data / "services-own.yaml"),
            "JWKS_URL": f"{monolith.url}/.well-known/jwks.json",
            "BACKFILL_PASSWORD": DEMO_PASSWORDS["staff"],
            "SAGA_STEP_TIMEOUT": "20",
        }
        backfill = ["--source", monolith.url, "--username", "staff"]
        catalog = fleet.catalog(data, env=services_env, setup=[["catalog_backfill", *backfill]])
        orders = fleet.DjangoService(
            "orders",
            settings="extracted.orders.settings",
            manage="extracted/orders/manage.py",
            wsgi="extracted.orders.wsgi:application",
            data_dir=data,
            env=services_env,
            setup=[["orders_backfill", *backfill]],
        )
        with catalog, orders:
            try:
                children += _processes(
                    catalog,
                    tag,
                    {**common, "SERVICE": "catalog"},
                    [["relay"], ["consume", "catalog"]],
                )
                children += _processes(
                    orders,
                    tag,
                    {**common, "SERVICE": "orders"},
                    [["relay"], ["consume", "orders"], ["consume", "orders.payments"], ["sweep"]],
                )
                http = urllib3.PoolManager()
                tokens = {}
                for user, password in DEMO_PASSWORDS.items():
                    response = http.request(
                        "POST",
                        f"{monolith.url}/api/v1/auth/token",
                        json={"username": user, "password": password},
                    )
                    assert response.status == 200, response.data
                    tokens[user] = response.json()["access"]
                yield monolith, orders, tokens, http, {"monolith": None, "orders": None}
            finally:
                stop_processes(children)


def _settle(http, base: str, order_id: int, tokens, *, saga: bool) -> None:
    headers = {"Authorization": f"Bearer {tokens['staff']}", "Content-Type": "application/json"}
    if not saga:  # the monolith: staff confirm the order (its stand-in for payment)
        response = http.request(
            "POST",
            f"{base}/api/v1/orders/{order_id}/status/",
            body=json.dumps({"status": "confirmed"}),
            headers=headers,
        )
        assert response.status == 200, response.data
        return

    def settled() -> bool:
        url = f"{base}/api/v1/orders/{order_id}/"
        status = http.request("GET", url, headers=headers).json()["status"]
        if status == "pending":
            return False
        # the list reads the history read model, built from the order's events: it may trail
        # the order itself (OrderListPlaceApi), and a later scenario reads the list
        listed = http.request("GET", f"{base}/api/v1/orders/", headers=headers).json()["results"]
        return any(row["id"] == order_id and row["status"] == status for row in listed)

    wait_for(settled, timeout=60, what=f"order {order_id} to settle on {base}, list included")


def _list_caught_up(http, base: str, tokens) -> None:
    """Until the service's list (its history read model, built from the orders' events) says
    what each order says: a cancellation the scenarios just made reaches the list through the
    relay and the consumer, and on a busy machine a list read at once still had the order
    `confirmed` (the monolith's list reads its own table)."""
    headers = {"Authorization": f"Bearer {tokens['staff']}"}

    def caught_up() -> bool:
        listed = http.request(
            "GET", f"{base}/api/v1/orders/?page_size=100", headers=headers
        ).json()["results"]
        for row in listed:
            detail = http.request("GET", f"{base}/api/v1/orders/{row['id']}/", headers=headers)
            if detail.json()["status"] != row["status"]:
                return False
        return True

    wait_for(caught_up, timeout=60, what=f"the order list on {base} to catch up with its orders")


@pytest.mark.parametrize("case", SCENARIOS, ids=[s.name for s, _ in SCENARIOS])
def test_orders_service_matches_the_monolith(sides, case):
    scenario, settle = case
    monolith, orders, tokens, http, last = sides
    token = tokens.get(scenario.user)
    request_id = "parity-" + re.sub(r"[^A-Za-z0-9-]", "-", scenario.name)
    answers = {}
    for side, base in (("monolith", monolith.url), ("orders", orders.url)):
        here = scenario
        if "{last}" in scenario.path:
            here = Scenario(**{**scenario.__dict__, "path": scenario.path.format(last=last[side])})
        if side == "orders" and here.method == "GET" and here.path == "/api/v1/orders/":
            _list_caught_up(http, base, tokens)
        answers[side] = send(http, base, here, token=token, request_id=request_id)
        if scenario.method == "POST" and answers[side].status == 201:
            last[side] = answers[side].body["id"]
    diff = difference(
        answers["monolith"], answers["orders"], RULES[scenario.route], labels=("monolith", "orders")
    )
    assert diff is None, f"{scenario.method} {scenario.path} differs:\n{diff}"
    assert answers["monolith"].status < 500, answers["monolith"]
    if not settle:
        return
    # the final state of the order, after each side settled it
    assert last["monolith"] == last["orders"]
    _settle(http, monolith.url, last["monolith"], tokens, saga=False)
    _settle(http, orders.url, last["orders"], tokens, saga=True)
    detail = Scenario(
        name=scenario.name + " settled",
        route=scenario.route,
        method="GET",
        path=f"/api/v1/orders/{last['orders']}/",
        user=scenario.user,
    )
    settled = {
        side: send(http, base, detail, token=token, request_id=request_id + "-settled")
        for side, base in (("monolith", monolith.url), ("orders", orders.url))
    }
    diff = difference(
        settled["monolith"], settled["orders"], RULES[scenario.route], labels=("monolith", "orders")
    )
    assert diff is None, f"the settled order differs:\n{diff}"
    assert settled["orders"].body["status"] == "confirmed"


def test_the_corpus_covers_every_orders_endpoint():
    covered = {
        (s.method, s.path.split("{last}")[-1].strip("/").split("/")[-1]) for s, _ in SCENARIOS
    }
    assert {
        ("GET", "orders"),
        ("POST", "orders"),
        ("POST", "status"),
        ("POST", "cancel"),
    } <= covered
    assert any(settle for _, settle in SCENARIOS)
