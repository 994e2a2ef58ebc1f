"""Chapter 07 and back, on what `make run` starts: the orders service takes stock and orders over,
sells through the proxy, then hands both back to the monolith, which serves every order placed on
the service (detail, list, cancel, the Idempotency-Key) with the right stock levels."""

from __future__ import annotations

import subprocess
import sys

import pytest
import urllib3

from tests.support.fleet import ROOT, procfile_fleet
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e
SKU = "KIT-0003"


class Shop:
    def __init__(self, env: dict[str, str]):
        self.env = env
        self.http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=30))
        self.tokens = {
            user: self.http.request(
                "POST",
                f"{env['MONOLITH']}/api/v1/auth/token",
                json={"username": user, "password": f"{user}-demo-pass"},
            ).json()["access"]
            for user in ("alice", "staff")
        }

    def call(self, method, base, path, *, user="alice", body=None, headers=None):
        auth = {"Authorization": f"Bearer {self.tokens[user]}", **(headers or {})}
        return self.http.request(method, self.env[base] + path, json=body, headers=auth)

    def place(self, *, key=None, base="PROXY", headers=None):
        extra = {
            "Prefer": "wait=10",
            **({"Idempotency-Key": key} if key else {}),
            **(headers or {}),
        }
        return self.call(
            "POST",
            base,
            "/api/v1/orders/",
            body={"lines": [{"sku": SKU, "quantity": 1}]},
            headers=extra,
        )

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, *command],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
        return done

    def stock(self, base: str) -> tuple[int, int]:
        row = self.call("GET", base, f"/api/v1/products/{SKU}/inventory/", user="staff").json()
        return row["on_hand"], row["reserved"]

    def settled(self, base: str, order_id: int, status: str) -> bool:
        return self.call("GET", base, f"/api/v1/orders/{order_id}/").json().get("status") == status


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    data = tmp_path_factory.mktemp("orders-handback")
    # The stuck checkout below is compensated once its payment step passes this deadline (30 s
    # under `make run`): shorter, the test does not sit idle; long enough for a loaded machine's
    # other steps, which answer in well under a second.
    with procfile_fleet(data, env={"SAGA_STEP_TIMEOUT": "8"}) as env:
        yield Shop({**env, "BACKFILL_PASSWORD": "staff-demo-pass"})


@pytest.mark.timeout(900)
def test_orders_placed_on_the_service_survive_the_hand_back(shop):
    staff = ["--token", shop.tokens["staff"]]
    # given the chapter 07 state: the catalog owns stock, the orders service owns orders
    shop.run("extracted/catalog/manage.py", "catalog_backfill", "--source", shop.env["MONOLITH"])
    shop.run("extracted/orders/manage.py", "orders_backfill", "--source", shop.env["MONOLITH"])
    shop.run("-m", "servicekit.ownership_cli", "set", "order", "frozen")
    shop.run(
        "extracted/catalog/manage.py",
        "inventory_takeover",
        "--source",
        shop.env["MONOLITH"],
        *staff,
        "--route",
        "inventory-write",
    )
    shop.run(
        "extracted/orders/manage.py",
        "orders_takeover",
        "--source",
        shop.env["MONOLITH"],
        *staff,
        "--route",
        "orders",
    )
    # and orders placed on the service through the proxy: one confirmed with a key, one
    # cancelled by the customer, one shipped by staff
    keyed = wait_for(
        lambda: (r := shop.place(key="first-on-the-service")).status == 201 and r.json(),
        timeout=30,
        what="an order placed on the service",
    )
    assert keyed["status"] == "confirmed", keyed
    cancelled = shop.place().json()["id"]
    shop.call("POST", "PROXY", f"/api/v1/orders/{cancelled}/cancel/", body={})
    shipped = shop.place().json()["id"]
    ship = shop.call(
        "POST",
        "PROXY",
        f"/api/v1/orders/{shipped}/status/",
        user="staff",
        body={"status": "shipped"},
    )
    assert ship.status == 200, ship.data
    # and a checkout whose payment hangs
    stuck = shop.place(headers={"X-Fake-Payment": "hang", "Prefer": "wait=0"}).json()["id"]

    # when the monolith takes orders back while that checkout runs: refused, nothing frozen
    refused = shop.run(
        "manage.py",
        "orders_takeover",
        "--source",
        shop.env["ORDERS"],
        *staff,
        "--route",
        "orders",
        check=False,
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"checkouts still running: orders {stuck} (paying)" in refused.stderr
    owners = shop.run("-m", "servicekit.ownership_cli", "show").stdout
    assert "order: orders" in owners

    # when the stuck checkout timed out (compensated: cancelled), the hand-back runs
    wait_for(
        lambda: shop.settled("ORDERS", stuck, "cancelled"), timeout=180, what="the stuck checkout"
    )
    wait_for(lambda: shop.stock("CATALOG")[1] == 0, timeout=30, what="no stock reserved")
    orders_back = shop.run(
        "manage.py", "orders_takeover", "--source", shop.env["ORDERS"], *staff, "--route", "orders"
    )
    assert "route orders: monolith" in orders_back.stdout
    assert "order: now owned by monolith" in orders_back.stdout
    stock_back = shop.run(
        "manage.py",
        "inventory_takeover",
        "--source",
        shop.env["CATALOG"],
        *staff,
        "--route",
        "inventory-write",
    )
    assert "inventory: now owned by monolith" in stock_back.stdout

    # then the monolith serves every order placed on the service, through the proxy
    for order_id, status in (
        (keyed["id"], "confirmed"),
        (cancelled, "cancelled"),
        (shipped, "shipped"),
        (stuck, "cancelled"),
    ):
        detail = shop.call("GET", "MONOLITH", f"/api/v1/orders/{order_id}/").json()
        assert detail["status"] == status, detail
        assert [(line["sku"], line["quantity"]) for line in detail["lines"]] == [(SKU, 1)]
    listed = shop.call("GET", "PROXY", "/api/v1/orders/?page_size=100").json()["results"]
    assert {keyed["id"], cancelled, shipped, stuck} <= {o["id"] for o in listed}
    # its stock levels are the catalog's
    assert shop.stock("MONOLITH") == shop.stock("CATALOG")
    on_hand = shop.stock("MONOLITH")[0]
    # the key first used against the service replays the same order from the monolith
    replay = shop.place(key="first-on-the-service")
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["id"] == keyed["id"]
    # the customer cancels an order placed on the service: its unit comes back here
    back = shop.call("POST", "PROXY", f"/api/v1/orders/{keyed['id']}/cancel/", body={})
    assert back.json()["status"] == "cancelled", back.data
    assert shop.stock("MONOLITH")[0] == on_hand + 1
    # and that change reaches the service's copy (its event continues the order's stream)
    wait_for(
        lambda: shop.settled("ORDERS", keyed["id"], "cancelled"),
        timeout=30,
        what="the monolith's cancel mirrored by the service",
    )
    # a new order in the monolith takes stock here, with an id above every service order
    new = shop.place()
    assert new.status == 201 and new.json()["status"] == "pending", new.data
    assert new.json()["id"] > max(keyed["id"], cancelled, shipped, stuck)
