"""The smoke walk through the composed edge (nginx fed the route table, the Python proxy behind
it): what a user of the README does first.

Each step returns a line saying what it saw; a step that does not see it raises.
"""

from __future__ import annotations

import json
import time
import uuid

import urllib3

from deploy.podman.fleet import Fleet, wait_until

ALICE = ("alice", "alice-demo-pass")
STAFF = ("staff", "staff-demo-pass")
FLIPPED_ROUTE = "catalog-products-read"
ADMIN_TOKEN = "compose-only-admin-token"  # docker-compose.yml's laptop default
EDGE_ACCESS_LOG = "/var/lib/strangler/proxy/nginx/access.log"  # deploy/generate/compose.py


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
        assert page.headers.get("Server") == "nginx", page.headers  # the edge answered
        products = self.request("GET", "/api/v1/products/").json()
        assert products["count"] > 0, products
        return f"storefront page and {products['count']} seeded products through the nginx edge"

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

    def served_by(self, path: str) -> dict:
        """A read sent with a request id of its own, and the edge's access-log line for it."""
        request_id = uuid.uuid4().hex
        response = self.request("GET", path, headers={"X-Request-ID": request_id})
        assert response.status == 200, (response.status, response.data[:300])
        # echoed once (the edge adds it and hides the upstream's echo of the same id)
        assert response.headers.getlist("X-Request-ID") == [request_id], response.headers
        log = self.fleet.exec("edge", "cat", EDGE_ACCESS_LOG).stdout
        lines = [json.loads(line) for line in log.splitlines() if request_id in line]
        assert len(lines) == 1, (request_id, log[-2000:])
        return lines[0]

    def set_route(self, mode: str) -> None:
        cmd = ["python", "-m", "strangler_proxy", "routes", "set", FLIPPED_ROUTE, "--mode", mode]
        result = self.fleet.exec("proxy", *cmd)
        assert FLIPPED_ROUTE in result.stdout, result.stdout + result.stderr

    def route_flip(self) -> str:
        """`routes set` in the proxy container; nginx, in the edge container, follows."""
        path = "/api/v1/products/COF-0001/"
        seen = []
        for mode, side, port in (("extracted", "candidate", 8002), ("monolith", "primary", 8001)):
            self.set_route(mode)

            def served(s: str = side) -> dict | None:
                line = self.served_by(path)
                return line if line["route"] == FLIPPED_ROUTE and line["side"] == s else None

            line = wait_until(
                served, timeout=30, interval=0.5, what=f"nginx serving {FLIPPED_ROUTE} {mode}"
            )
            assert line["upstream"].endswith(f":{port}"), line
            seen.append(f"{side} ({line['upstream']})")
        # the admin API is the Python proxy's, reached through the edge
        routes = self.request("GET", "/_strangler/routes", ADMIN_TOKEN)
        assert routes.status == 200 and FLIPPED_ROUTE in routes.data.decode(), routes.data[:300]
        return (
            f"{FLIPPED_ROUTE} flipped to the catalog service and back (routes set in the proxy "
            f"container, nginx regenerated and reloaded in the edge): {', '.join(seen)}"
        )

    def takeover(self, staff: str) -> str:
        # Under mTLS the monolith serves https, and a command run in a container presents its
        # service's certificate (the entry point names it for the container's own process).
        scheme = "https" if self.fleet.mtls else "http"
        cmd = ["env", "STRANGLER_TLS_NAME=catalog", "python", "extracted/catalog/manage.py"]
        cmd += ["catalog_takeover", "--source", f"{scheme}://monolith:8001", "--token", staff]
        result = self.fleet.exec("catalog", *cmd)
        assert "now owned by catalog" in result.stdout, result.stdout + result.stderr
        # The monolith now sends product writes on: the owner changed for every process, and a
        # client that still reaches the monolith is told to retry (the route moves next).
        refused = self.fleet.client().request(
            "POST",
            self.fleet.service_url("monolith") + "/api/v1/products/COF-0001/price/",
            json={"price": "1.00"},
            headers={"Authorization": f"Bearer {staff}"},
            timeout=30,
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
            "API login through the edge: alice and staff",
            self.order_with_notification(alice),
            self.route_flip(),
            self.takeover(staff),
        ]
        seen.append(f"smoke walk took {time.monotonic() - started:.0f}s")
        return seen
