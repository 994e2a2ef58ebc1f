"""`make load`: the shop's realistic traffic through the proxy, for Locust (web UI or headless).

Three kinds of user, all `ShopClient`s (loadtest/shop_client.py: tokens from the auth route,
renewed before they expire, `Retry-After` honoured, Idempotency-Keys on orders):

- `Browser`, anonymous: product list pages, search (`q`), filters and `ordering`, a product's
  page, the categories, the storefront's HTML pages;
- `Shopper`: signs up, logs in, browses, orders with an Idempotency-Key, cancels some of its
  orders, reads its orders and notifications, logs in again now and then;
- `Staff` (one, the demo `staff` user): puts the load's own products on the shelf, then edits
  them (description, price), counts and restocks their stock.

The load buys and edits only its own products (`LOAD-0001`...), so the demo products the
tutorial's commands use keep their prices and stock. An answer a correct client expects (409
out of stock, a cancel that came too late, a 503 or 429 it waited out) is a success, listed
under the path with the status in brackets; every 5xx and connection error, and any other
4xx, is a failure.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
from decimal import Decimal

import gevent
from locust import User, between, events, task
from locust.env import Environment

from loadtest.products import LOAD_CATEGORY, LOAD_SKUS
from loadtest.shop_client import Answer, ClientGaveUp, ShopClient

STAFF = ("staff", "staff-demo-pass")  # made by `manage.py seed_demo` (`make run` runs it)
RESTOCK_BELOW = 50  # staff restock a load product whose available stock fell below this
ORDERINGS = ("sku", "-sku", "name", "-name", "price", "-price", "created_at", "-created_at")


class AnswerFailed(Exception):
    """What Locust lists as a failure: the status (or the connection error) and its code."""


class LocustLog:
    """Every answer a ShopClient gets, as one Locust request (its statistics, the web UI)."""

    phase = "load"

    def __init__(self, environment: Environment):
        self.events = environment.events

    def add(self, answer: Answer) -> None:
        method, _, name = answer.what.partition(" ")
        failure = None
        if answer.visible:
            failure = AnswerFailed(f"{answer.status or 'no answer'} {answer.note}".strip())
        elif answer.status and answer.status >= 400:
            name = f"{name} [{answer.status}]"
        self.events.request.fire(
            request_type=method,
            name=name,
            response_time=answer.seconds * 1000,
            response_length=answer.size,
            exception=failure,
            context={"client": answer.client},
        )


class ShopUser(User):
    """A Locust user whose requests go through one ShopClient; a request it gave up on is
    already a failure in the statistics, so the task just ends."""

    abstract = True

    def on_start(self) -> None:
        self.shop = ShopClient(self.host, LocustLog(self.environment), name=type(self).__name__)
        self.rng = random.Random()
        with contextlib.suppress(ClientGaveUp):
            self.begin()

    def begin(self) -> None:
        """What the user does once, before its tasks."""

    def get(self, path: str, what: str, **kwargs):
        return self.shop.call("GET", path, what=what, auth=False, **kwargs).json()


class Browser(ShopUser):
    """An anonymous visitor: lists, searches, filters, looks at products."""

    weight = 6
    wait_time = between(1, 4)

    def begin(self) -> None:
        self.categories: list[str] = []
        self.pages, self.seen, self.words = 1, ["COF-0001"], ["mug"]
        self.categories = [
            c["slug"] for c in self.get("/api/v1/categories/", "/api/v1/categories/")
        ]
        first = self.get("/api/v1/products/", "/api/v1/products/")
        self.pages = max(1, -(-first["count"] // 20))
        self.seen = [p["sku"] for p in first["results"]]
        self.words = sorted({w for p in first["results"] for w in p["name"].split()})

    @task(4)
    def list_page(self) -> None:
        with contextlib.suppress(ClientGaveUp):
            page = self.get(
                f"/api/v1/products/?page={self.rng.randint(1, self.pages)}",
                "/api/v1/products/?page=",
            )
            self.seen = [p["sku"] for p in page["results"]] or self.seen

    @task(4)
    def product(self) -> None:
        with contextlib.suppress(ClientGaveUp):
            sku = self.rng.choice(self.seen)
            self.get(f"/api/v1/products/{sku}/", "/api/v1/products/{sku}/")

    @task(2)
    def search(self) -> None:
        with contextlib.suppress(ClientGaveUp):
            word = self.rng.choice(self.words)
            ordering = self.rng.choice(ORDERINGS)
            self.get(
                f"/api/v1/products/?q={word}&ordering={ordering}",
                "/api/v1/products/?q=&ordering=",
            )

    @task(2)
    def filter(self) -> None:
        with contextlib.suppress(ClientGaveUp):
            slug = self.rng.choice(self.categories or ["kitchen"])
            self.get(
                f"/api/v1/products/?category={slug}&in_stock=true&max_price=50&ordering=price",
                "/api/v1/products/?category=&in_stock=&max_price=&ordering=",
            )

    @task(1)
    def categories_list(self) -> None:
        with contextlib.suppress(ClientGaveUp):
            self.get("/api/v1/categories/", "/api/v1/categories/")

    @task(2)
    def storefront(self) -> None:
        with contextlib.suppress(ClientGaveUp):
            self.shop.call("GET", "/", auth=False)
            sku = self.rng.choice(self.seen)
            self.shop.call("GET", f"/products/{sku}/", what="/products/{sku}/", auth=False)


class Shopper(ShopUser):
    """A customer: signs up, logs in, orders the load's products and cancels some orders."""

    weight = 3
    wait_time = between(2, 5)

    def begin(self) -> None:
        self.placed: list[int] = []
        self.turn = 0
        self.shop.register("shopper")

    def on_shelf(self) -> list[str]:
        """The load's products in stock, as a search for them shows."""
        page = self.get(
            "/api/v1/products/?q=LOAD-&in_stock=true&page_size=50",
            "/api/v1/products/?q=&in_stock=",
        )
        return [p["sku"] for p in page["results"]]

    @task(3)
    def browse(self) -> None:
        with contextlib.suppress(ClientGaveUp):
            if skus := self.on_shelf():
                self.shop.browse(page=self.rng.randint(1, 10), sku=self.rng.choice(skus))

    @task(4)
    def order(self) -> None:
        if not self.shop.access:
            return  # the sign-up failed (a failure already); nothing to order with
        with contextlib.suppress(ClientGaveUp):
            skus = self.on_shelf()
            if not skus:
                return  # the staff user has not put them on the shelf yet
            self.turn += 1
            lines = [
                {"sku": sku, "quantity": self.rng.randint(1, 2)}
                for sku in self.rng.sample(skus, min(len(skus), self.rng.randint(1, 2)))
            ]
            answer = self.shop.order_place(lines, key=f"{self.shop.username}-{self.turn}")
            if answer.status_code < 300:  # 201, or 202 while the orders service's saga runs
                self.placed.append(answer.json()["id"])

    @task(2)
    def cancel(self) -> None:
        if not self.placed:
            return
        with contextlib.suppress(ClientGaveUp):
            self.shop.order_cancel(self.placed.pop(self.rng.randrange(len(self.placed))))

    @task(1)
    def my_orders(self) -> None:
        if not self.shop.access:
            return
        with contextlib.suppress(ClientGaveUp):
            self.shop.call("GET", "/api/v1/orders/")
            self.shop.call("GET", "/api/v1/notifications/")

    @task(1)
    def login_again(self) -> None:
        """Back on another device: a fresh login (a password hash on the server)."""
        if not self.shop.username:
            return
        with contextlib.suppress(ClientGaveUp):
            self.shop.login(self.shop.username, self.shop.password)


class Staff(ShopUser):
    """The shop's staff member: stocks the load's products and edits them."""

    fixed_count = 1
    wait_time = between(1, 3)

    def begin(self) -> None:
        self.prices: dict[str, Decimal] = {}
        self.shop.login(*STAFF)
        for sku in LOAD_SKUS:
            found = self.shop.call(
                "GET", f"/api/v1/products/{sku}/", what="/api/v1/products/{sku}/", expect=(404,)
            )
            if found.status_code == 200:
                self.prices[sku] = Decimal(found.json()["price"])
                continue
            price = Decimal(self.rng.randrange(299, 4999)) / 100
            self.shop.call(
                "POST",
                "/api/v1/products/",
                json={
                    "sku": sku,
                    "name": f"Load test item {sku[-2:]}",
                    "description": "Bought and edited by `make load`.",
                    "category": LOAD_CATEGORY,
                    "price": str(price),
                    "on_hand": 500,
                },
                retry=False,
            )
            self.prices[sku] = price

    @task(2)
    def edit_description(self) -> None:
        sku = self.rng.choice(LOAD_SKUS)
        with contextlib.suppress(ClientGaveUp):
            self.shop.call(
                "PATCH",
                f"/api/v1/products/{sku}/",
                what="/api/v1/products/{sku}/",
                json={
                    "description": f"Bought and edited by `make load` (note {self.rng.random():.6f})."
                },
                retry=True,
            )

    @task(2)
    def change_price(self) -> None:
        sku = self.rng.choice(sorted(self.prices) or LOAD_SKUS)
        base = self.prices.get(sku, Decimal("10.00"))
        price = (base * Decimal(self.rng.choice(("0.95", "1.00", "1.05")))).quantize(
            Decimal("0.01")
        )
        with contextlib.suppress(ClientGaveUp):
            self.shop.call(
                "POST",
                f"/api/v1/products/{sku}/price/",
                what="/api/v1/products/{sku}/price/",
                json={"price": str(price)},
                retry=True,
            )

    @task(2)
    def restock(self) -> None:
        sku = self.rng.choice(LOAD_SKUS)
        path = f"/api/v1/products/{sku}/inventory/"
        with contextlib.suppress(ClientGaveUp):
            stock = self.shop.call("GET", path, what="/api/v1/products/{sku}/inventory/").json()
            if stock["available"] < RESTOCK_BELOW:
                self.shop.call(
                    "PUT",
                    path,
                    what="/api/v1/products/{sku}/inventory/",
                    json={"on_hand": stock["on_hand"] + 200},
                )


@events.init.add_listener
def _ctrl_c_stops_as_sigterm_does(**_kwargs) -> None:
    """Ctrl-C ends the run the way SIGTERM does: Locust's own handler prints the summary and
    exits. Left to Python, SIGINT becomes a KeyboardInterrupt in whichever greenlet happens to
    run when it lands; under a busy machine the run was seen going on after it, printing
    nothing (the tutorial's walk, stopping chapter 04's `make load`). gevent's handler runs in
    its hub every time."""
    gevent.signal_handler(signal.SIGINT, os.kill, os.getpid(), signal.SIGTERM)


@events.init_command_line_parser.add_listener
def _defaults(parser) -> None:
    # `make load` passes --host; a bare `locust -f loadtest/locustfile.py` aims at `make run`.
    parser.set_defaults(host="http://127.0.0.1:8000")
