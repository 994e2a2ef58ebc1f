"""Saga faults on real PostgreSQL and RabbitMQ: randomised orders, injected failures, invariants.

The fleet is real processes: the orders service's relay (shuffling and duplicating what it
publishes), its consumer, the fake payment provider's consumer and the saga sweeper; the catalog
service's relay and consumer on a database of its own. Orders are placed in this process. Faults:
payment declines, failures and hangs, a refund that fails once, customer cancellations mid-saga,
the catalog down for longer than a step's timeout, consumers killed (SIGKILL) mid-step, and
duplicated and reordered messages. After quiescence: stock is conserved (on hand + sold is the
starting stock, nothing stays reserved), every order is confirmed or cancelled with its saga
finished, and no payment is kept without a confirmed order.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from decimal import Decimal

import psycopg
import pytest
from django.db import connection

from extracted.orders.orders import services
from extracted.orders.orders.models import TERMINAL_STEPS, Order, Product, Saga
from extracted.orders.payments.models import Payment
from servicekit.events import faults
from servicekit.events.outbox.models import OutboxMessage, OutboxStatus
from servicekit.migration.ownership import ownership_set
from servicekit.web.errors import ApplicationError
from tests.support import fleet
from tests.support.backends import require_or_skip
from tests.support.processes import stop_processes
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration

SKUS = {"SAGA-1": 25, "SAGA-2": 25, "SAGA-3": 10, "SAGA-4": 40}
ROUNDS = 3
ORDERS_PER_ROUND = 30
STEP_TIMEOUT = 2.0
BEHAVIOURS = [
    ("succeed", 45),
    ("decline", 15),
    ("fail", 10),
    ("hang", 10),
    ("hang,refund-fails-once", 10),
    ("succeed,refund-fails-once", 10),
]


@pytest.fixture
def real_backends(settings, transactional_db):
    if connection.vendor != "postgresql":
        require_or_skip("postgres", "the saga fault tests need PostgreSQL (DATABASE_URL)")
    if not settings.CELERY_BROKER_URL.startswith("amqp"):
        require_or_skip("rabbitmq", "the saga fault tests need RabbitMQ (CELERY_BROKER_URL)")


class Fleet:
    """Child processes by role; `keep_alive` restarts the dead ones, like a supervisor."""

    def __init__(self, tmp_path, catalog_url: str, ownership: str):
        tag = uuid.uuid4().hex[:10]
        self.tag = tag
        subscriptions = {
            "catalog@" + tag: ["catalog.#", "checkout.#"],
            "orders@" + tag: ["orders.#", "catalog.#", "stock.#", "payments.#"],
            "orders.payments@" + tag: ["checkout.#"],
        }
        common = {
            "EXCHANGE": f"test.saga.{tag}",
            "SUBSCRIPTIONS": subscriptions,
            "RELAY_POLL_INTERVAL": 0.05,
            "RELAY_LEASE_SECONDS": 3.0,
            "RELAY_IDLE_INTERVAL": 0.5,
            "RELAY_BACKOFF_BASE": 0.05,
            "RELAY_BACKOFF_MAX": 1.0,
            "INBOX_BACKOFF_BASE": 0.05,
            "INBOX_MAX_ATTEMPTS": 50,
        }
        self.events = {"orders": {**common, "SERVICE": "orders"}}
        self.events["catalog"] = {**common, "SERVICE": "catalog"}
        self.env = {
            "orders": {
                "DJANGO_SETTINGS_MODULE": "extracted.orders.settings",
                "SK_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
                "SAGA_STEP_TIMEOUT": str(STEP_TIMEOUT),
            },
            "catalog": {
                "DJANGO_SETTINGS_MODULE": "extracted.catalog.settings",
                "CATALOG_DATABASE_URL": catalog_url,
            },
        }
        self.ownership = ownership
        self.log = open(tmp_path / "fleet.log", "ab")  # noqa: SIM115 (closed in close())
        self.children: dict[str, subprocess.Popen] = {}
        self.restarts = 0

    def start(self, name: str, service: str, *args: str, **env: str) -> subprocess.Popen:
        child_env = {
            **os.environ,
            **self.env[service],
            "SK_EVENTS_JSON": json.dumps(self.events[service]),
            "SK_QUEUE_TAG": self.tag,
            "OWNERSHIP_FILE": self.ownership,
            "LOG_LEVEL": "WARNING",
            **env,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.extracted.orders.proc", *args],
            cwd=fleet.ROOT,
            env=child_env,
            stdout=self.log,
            stderr=self.log,
        )
        self.children[name] = proc
        self._spec = getattr(self, "_spec", {})
        self._spec[name] = (service, args)
        return proc

    def stop(self, name: str, sig=signal.SIGTERM) -> None:
        proc = self.children.pop(name)
        proc.send_signal(sig)
        proc.wait(timeout=30)

    def keep_alive(self) -> None:
        for name, proc in list(self.children.items()):
            if proc.poll() is not None:
                self.restarts += 1
                service, args = self._spec[name]
                self.start(name, service, *args)  # restarted without the fault

    def close(self) -> None:
        stop_processes(self.children.values())
        self.log.close()
        from kombu import Connection

        from servicekit.events.broker.topology import delete_topology

        try:
            with Connection(os.environ["CELERY_BROKER_URL"]) as conn:
                conn.ensure_connection(max_retries=3)
                delete_topology(
                    conn,
                    exchange_name=self.events["orders"]["EXCHANGE"],
                    subscriptions=self.events["orders"]["SUBSCRIPTIONS"],
                )
        except Exception:
            pass


def catalog_database(tmp_path) -> tuple[str, str]:
    name = f"saga_catalog_{uuid.uuid4().hex[:8]}"
    url = fleet.postgres_database(os.environ["DATABASE_URL"], name)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "extracted.catalog.settings",
        "CATALOG_DATABASE_URL": url,
        "STRANGLER_DATA_DIR": str(tmp_path),
    }
    manage = [sys.executable, "extracted/catalog/manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=fleet.ROOT, env=env, check=True)
    seed = (
        "from extracted.catalog.products.models import Category, Inventory, Product\n"
        "from extracted.catalog.stock.eventstore import counted, stock_change\n"
        "c = Category.objects.create(slug='saga', name='Saga')\n"
        f"for sku, on_hand in {SKUS!r}.items():\n"
        "    p = Product.objects.create(sku=sku, name=sku, category=c, price='2.50')\n"
        "    Inventory.objects.create(product=p)\n"
        "    stock_change(sku=sku, decide=counted(on_hand=on_hand), reason=None)\n"
    )
    subprocess.run([*manage, "shell", "-c", seed], cwd=fleet.ROOT, env=env, check=True)
    return name, url


def catalog_rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
        return conn.execute(sql).fetchall()


def test_randomised_orders_with_injected_faults_keep_the_invariants(
    real_backends, settings, tmp_path
):
    seed = int(os.environ.get("SAGA_FAULT_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    ownership = str(tmp_path / "ownership.yaml")
    settings.OWNERSHIP_FILE = ownership
    for entity, owner in (("product", "catalog"), ("inventory", "catalog"), ("order", "orders")):
        ownership_set(entity, owner)
    catalog_name, catalog_url = catalog_database(tmp_path)
    for sku, on_hand in SKUS.items():
        Product.objects.create(sku=sku, name=sku, price=Decimal("2.50"), available=on_hand)
    faults_done: Counter[str] = Counter()
    the_fleet = Fleet(tmp_path, catalog_url, ownership)
    the_fleet.events["orders"]
    settings.SERVICEKIT_EVENTS = the_fleet.events["orders"]  # this process enqueues as orders
    once = lambda name: {  # noqa: E731
        "SERVICEKIT_CRASH_ONCE_FILE": str(tmp_path / f"crashed-{name}")
    }
    try:
        # given: the fleet, with consumers that kill themselves once mid-step
        the_fleet.start("orders-relay", "orders", "chaos-relay")
        the_fleet.start(
            "orders-consumer",
            "orders",
            "consume",
            "orders",
            SERVICEKIT_CRASH_AT=faults.INBOX_BEFORE_COMMIT,
            **once("orders"),
        )
        the_fleet.start(
            "payments",
            "orders",
            "consume",
            "orders.payments",
            SERVICEKIT_CRASH_AT=faults.INBOX_AFTER_COMMIT,
            **once("payments"),
        )
        the_fleet.start("sweeper", "orders", "sweep")
        the_fleet.start("catalog-relay", "catalog", "chaos-relay")
        the_fleet.start(
            "catalog-consumer",
            "catalog",
            "consume",
            "catalog",
            SERVICEKIT_CRASH_AT=faults.INBOX_BEFORE_COMMIT,
            **once("catalog"),
        )
        placed: list[int] = []
        rejected = 0
        for round_number in range(ROUNDS):
            catalog_down = round_number == 1  # longer than a step's timeout
            if catalog_down:
                the_fleet.stop("catalog-consumer")
                faults_done["catalog down"] += 1
            for _ in range(ORDERS_PER_ROUND):
                behaviour = rng.choices(
                    [b for b, _ in BEHAVIOURS], weights=[w for _, w in BEHAVIOURS]
                )[0]
                lines = [
                    services.OrderLineIn(sku=sku, quantity=rng.randint(1, 3))
                    for sku in rng.sample(sorted(SKUS), rng.randint(1, 2))
                ]
                try:
                    order, _ = services.order_place(
                        customer_id=rng.randint(1, 5),
                        lines=lines,
                        payment_behaviour=behaviour,
                        idempotency_key=f"k-{round_number}-{len(placed)}",
                    )
                except ApplicationError:
                    rejected += 1  # the replica already shows the shortage: 409 at once
                    continue
                placed.append(order.pk)
                faults_done[f"payment {behaviour}"] += int(behaviour != "succeed")
                if rng.random() < 0.1:
                    time.sleep(rng.uniform(0, STEP_TIMEOUT))  # let it get somewhere first
                    services.order_cancel(
                        order=Order.objects.get(pk=order.pk), reason="changed my mind"
                    )
                    faults_done["customer cancels mid-saga"] += 1
            if round_number == 0:
                time.sleep(1.0)
                the_fleet.stop("payments", sig=signal.SIGKILL)  # a worker killed mid-run
                faults_done["payment worker SIGKILLed"] += 1
                the_fleet.start("payments", "orders", "consume", "orders.payments")
            if catalog_down:
                time.sleep(STEP_TIMEOUT * 2)
                # the same fault as before: if the first one met no event before the outage,
                # this one dies at its first (the marker file makes it once in all)
                the_fleet.start(
                    "catalog-consumer",
                    "catalog",
                    "consume",
                    "catalog",
                    SERVICEKIT_CRASH_AT=faults.INBOX_BEFORE_COMMIT,
                    **once("catalog"),
                )

        # when: everything settles
        def quiet() -> bool:
            sagas = Saga.objects.filter(pk__in=placed)
            return (
                sagas.count() == len(placed)
                and not sagas.exclude(step__in=TERMINAL_STEPS).exists()
                and not OutboxMessage.objects.exclude(status=OutboxStatus.SENT).exists()
                and not catalog_rows(
                    catalog_url,
                    "SELECT 1 FROM servicekit_outbox_message WHERE status <> 'sent' LIMIT 1",
                )
            )

        def quiet_while_supervised() -> bool:
            the_fleet.keep_alive()  # a supervisor restarts what died
            return quiet()

        wait_for(quiet_while_supervised, timeout=150, interval=0.3, what="every saga to finish")
        time.sleep(1.0)  # late duplicates land on finished sagas: nothing may move
        the_fleet.keep_alive()
        assert quiet()
    finally:
        the_fleet.close()

    # then: stock is conserved and nothing stays reserved
    try:
        stock = dict(
            (sku, (on_hand, reserved))
            for sku, on_hand, reserved in catalog_rows(
                catalog_url,
                "SELECT p.sku, i.on_hand, i.reserved FROM products_inventory i "
                "JOIN products_product p ON p.id = i.product_id",
            )
        )
        reservations = {
            order_id: (state, lines)
            for order_id, state, lines in catalog_rows(
                catalog_url, "SELECT order_id, state, lines FROM stock_stockreservation"
            )
        }
    finally:
        fleet.postgres_database(os.environ["DATABASE_URL"], catalog_name, drop=True)
    sold: Counter[str] = Counter()
    for state, lines in reservations.values():
        if state == "committed":
            for line in lines:
                sold[line["sku"]] += line["quantity"]
    for sku, start in SKUS.items():
        on_hand, reserved = stock[sku]
        assert reserved == 0, (sku, stock[sku])
        assert on_hand + sold[sku] == start, (sku, on_hand, sold[sku], start)

    # every order confirmed or cancelled, its saga finished, the catalog agreeing
    orders = {o.pk: o for o in Order.objects.filter(pk__in=placed)}
    sagas = {s.pk: s for s in Saga.objects.filter(pk__in=placed)}
    outcome = Counter(o.status for o in orders.values())
    assert set(outcome) <= {"confirmed", "cancelled"}, outcome
    for order_id, order in orders.items():
        assert sagas[order_id].step == order.status, (order_id, order.status, sagas[order_id])
        state = reservations[order_id][0]
        expected = (
            {"committed"} if order.status == "confirmed" else {"failed", "released", "returned"}
        )
        assert state in expected, (order_id, order.status, state)

    # no payment kept without a confirmed order; a cancelled order kept no money
    payments = {p.order_id: p for p in Payment.objects.all()}
    for order_id, payment in payments.items():
        if payment.status == "captured":
            assert orders[order_id].status == "confirmed", (order_id, payment.status)
        if orders[order_id].status == "cancelled":
            assert payment.status in {"declined", "failed", "voided", "refunded"}, payment.status
    refunds_retried = sum(p.refund_failures for p in payments.values())
    assert outcome["confirmed"] and outcome["cancelled"]
    assert (tmp_path / "crashed-orders").exists() and (tmp_path / "crashed-catalog").exists()

    print(
        f"\nsaga faults (seed {seed}): {ROUNDS} runs, {len(placed)} orders placed "
        f"({rejected} refused at once), {dict(outcome)}; faults injected: "
        f"{sum(faults_done.values()) + refunds_retried + 2} "
        f"({ {k: v for k, v in faults_done.items() if v} }, refunds failed once: {refunds_retried}, consumers killed "
        f"mid-step: 2 + payments SIGKILL, restarts: {the_fleet.restarts}); duplicated and "
        f"reordered publishes by both relays"
    )
