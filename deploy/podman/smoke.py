"""The smoke walk through the composed proxy: what a user of the README does first.

Each step returns a line saying what it saw; a step that does not see it raises.
"""

from __future__ import annotations

import time

import urllib3

from deploy.podman.fleet import Fleet, wait_until

ALICE = ("alice", "alice-demo-pass")
STAFF = ("staff", "staff-demo-pass")
FLIPPED_ROUTE = "catalog-products-read"
ADMIN_TOKEN = "compose-only-admin-token"  # docker-compose.yml's laptop default


class Walk:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.proxy = fleet.urls["proxy"]
        self.http = urllib3.PoolManager(timeout=urllib3.Timeout(total=30), retries=False)

    def request(self, method: str, path: str, token: str | None = None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.proxy + path, headers=headers, **kwargs)

    def login(self, username: str, password: str) -> str:
        body = {"username": username, "password": password}
        response = self.request("POST", "/api/v1/auth/token", json=body)
        assert response.status == 200, (username, response.status, response.data[:300])
        return response.json()["access"]

    def storefront(self) -> str:
        page = self.request("GET", "/")
        assert page.status == 200, page.status
        assert page.headers["Content-Type"].startswith("text/html"), page.headers
        products = self.request("GET", "/api/v1/products/").json()
        assert products["count"] > 0, products
        return f"storefront page and {products['count']} seeded products through the proxy"

    def order_with_notification(self, alice: str) -> str:
        line = {"sku": "KIT-0003", "quantity": 1}
        order = self.request("POST", "/api/v1/orders/", alice, json={"lines": [line]})
        assert order.status == 201, (order.status, order.data[:300])
        order_id = order.json()["id"]

        def notified() -> bool:
            listed = self.request("GET", "/api/v1/notifications/", alice)
            return listed.status == 200 and f"Order {order_id} placed" in listed.data.decode()

        wait_until(notified, timeout=90, interval=0.5, what=f"order {order_id}'s notification")
        return (
            f"order {order_id} placed as alice; its notification arrived (relay, broker, consumer)"
        )

    def served_by(self, upstream: str, path: str) -> int:
        traffic = self.request("GET", "/_strangler/traffic", ADMIN_TOKEN).json()
        by = traffic["routes"].get(FLIPPED_ROUTE, {}).get("by_upstream", {})
        return by.get(upstream, 0)

    def set_route(self, mode: str) -> None:
        cmd = ["python", "-m", "strangler_proxy", "routes", "set", FLIPPED_ROUTE, "--mode", mode]
        result = self.fleet.exec("proxy", *cmd)
        assert FLIPPED_ROUTE in result.stdout, result.stdout + result.stderr

    def route_flip(self) -> str:
        path = "/api/v1/products/COF-0001/"
        for mode, upstream in (("extracted", "catalog"), ("monolith", "monolith")):
            self.set_route(mode)
            before = self.served_by(upstream, path)

            def served(u: str = upstream, b: int = before) -> bool:
                response = self.request("GET", path)
                assert response.status == 200, (response.status, response.data[:300])
                return self.served_by(u, path) > b

            wait_until(
                served, timeout=30, interval=0.5, what=f"{FLIPPED_ROUTE} served by {upstream}"
            )
        return f"{FLIPPED_ROUTE} flipped to the catalog service and back (routes set in the proxy container)"

    def takeover(self, staff: str) -> str:
        monolith = "http://monolith:8001"
        cmd = ["python", "extracted/catalog/manage.py", "catalog_takeover"]
        result = self.fleet.exec("catalog", *cmd, "--source", monolith, "--token", staff)
        assert "now owned by catalog" in result.stdout, result.stdout + result.stderr
        # The monolith now sends product writes on: the owner changed for every process, and a
        # client that still reaches the monolith is told to retry (the route moves next).
        refused = self.http.request(
            "POST",
            self.fleet.urls["monolith"] + "/api/v1/products/COF-0001/price/",
            json={"price": "1.00"},
            headers={"Authorization": f"Bearer {staff}"},
        )
        assert refused.status == 503 and refused.json()["code"] == "owner_moving", refused.data
        assert refused.headers.get("Retry-After"), refused.headers
        return "catalog_takeover in the catalog container: product owned by catalog, monolith answers writes 503 owner_moving"

    def run(self) -> list[str]:
        started = time.monotonic()
        alice = self.login(*ALICE)
        staff = self.login(*STAFF)
        seen = [
            self.storefront(),
            "API login through the proxy: alice and staff",
            self.order_with_notification(alice),
            self.route_flip(),
            self.takeover(staff),
        ]
        seen.append(f"smoke walk took {time.monotonic() - started:.0f}s")
        return seen
