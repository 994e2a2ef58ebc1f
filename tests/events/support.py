"""Shared helpers for the events tests: a source and a copy table, a test consumer, processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from django.db import connection, transaction

from contracts.catalog import ProductCreatedV1, ProductPriceChangedV1, StockChangedV1
from contracts.registry import EVENT_TYPES
from servicekit.events.envelope import Envelope, now_utc
from servicekit.events.inbox.registry import EventConsumer, get_consumer
from servicekit.events.outbox import outbox_enqueue

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = "tests.copy"
POISON = "POISON"

TABLES = {
    "test_product_source": (
        "CREATE TABLE test_product_source (sku VARCHAR(50) PRIMARY KEY, name VARCHAR(100), "
        "price VARCHAR(20), on_hand INTEGER, version INTEGER)"
    ),
    "test_product_copy": (
        "CREATE TABLE test_product_copy (sku VARCHAR(50) PRIMARY KEY, name VARCHAR(100), "
        "price VARCHAR(20), on_hand INTEGER, version INTEGER)"
    ),
    # One row per application of an event: exactly-once in effect means one row per event id,
    # order per aggregate means sequences increase with the row id.
    "test_applied_log": (
        "CREATE TABLE test_applied_log (id INTEGER PRIMARY KEY {auto}, event_id VARCHAR(36), "
        "sku VARCHAR(50), sequence INTEGER)"
    ),
}


def create_tables() -> None:
    auto = "AUTOINCREMENT" if connection.vendor == "sqlite" else "GENERATED ALWAYS AS IDENTITY"
    with connection.cursor() as cursor:
        for name, ddl in TABLES.items():
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
            cursor.execute(ddl.format(auto=auto))


def drop_tables() -> None:
    with connection.cursor() as cursor:
        for name in TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")


def rows(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]


# the test consumer ------------------------------------------------------------------------------
def consumer_name() -> str:
    """The test consumer's name, which is its queue's: the private one `unique_events_settings`
    made for this test (the broker is shared: a queue of a fixed name would be too), else
    CONSUMER."""
    from django.conf import settings

    subscriptions = (getattr(settings, "SERVICEKIT_EVENTS", None) or {}).get("SUBSCRIPTIONS", {})
    return next((name for name in subscriptions if name.startswith(f"{CONSUMER}.")), CONSUMER)


def _consumer() -> EventConsumer:
    name = consumer_name()
    try:
        return get_consumer(name)
    except LookupError:
        pass
    consumer = EventConsumer(name, event_types=EVENT_TYPES)

    def upsert(sku: str, version: int, **values) -> None:
        columns = ["sku", "version", *values]
        updates = ", ".join(f"{c} = excluded.{c}" for c in ["version", *values])
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO test_product_copy ({', '.join(columns)}) "
                f"VALUES ({', '.join(['%s'] * len(columns))}) "
                f"ON CONFLICT (sku) DO UPDATE SET {updates}",
                [sku, version, *values.values()],
            )

    def log(envelope: Envelope) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO test_applied_log (event_id, sku, sequence) VALUES (%s, %s, %s)",
                [str(envelope.event_id), envelope.aggregate_id, envelope.sequence],
            )

    @consumer.on(ProductCreatedV1)
    def created(event: ProductCreatedV1, envelope: Envelope) -> None:
        if event.name == POISON:
            raise ValueError("poison event")
        upsert(
            event.sku, envelope.sequence, name=event.name, price=event.price, on_hand=event.on_hand
        )
        log(envelope)

    @consumer.on(ProductPriceChangedV1)
    def price_changed(event: ProductPriceChangedV1, envelope: Envelope) -> None:
        upsert(event.sku, envelope.sequence, price=event.new_price)
        log(envelope)

    from contracts.catalog import StockChangedV2

    @consumer.on(StockChangedV2)
    def stock_changed(event: StockChangedV2, envelope: Envelope) -> None:
        assert event.available == event.on_hand - event.reserved
        upsert(event.sku, envelope.sequence, on_hand=event.on_hand)
        log(envelope)

    return consumer


test_consumer = _consumer


# the producer side ------------------------------------------------------------------------------
def produce(sku: str, step: int, *, poison: bool = False) -> None:
    """One business change to product `sku` (step 0 creates it), with its outbox row."""
    with transaction.atomic(), connection.cursor() as cursor:
        if step == 0:
            name = POISON if poison else f"Product {sku}"
            cursor.execute(
                "INSERT INTO test_product_source VALUES (%s, %s, %s, %s, %s)",
                [sku, name, "10.00", 100, 1],
            )
            outbox_enqueue(created_event(sku, name=name, price="10.00", on_hand=100))
            return
        cursor.execute("SELECT price, on_hand FROM test_product_source WHERE sku = %s", [sku])
        price, on_hand = cursor.fetchone()
        if step % 2:
            new_price = f"{10 + step}.00"
            cursor.execute(
                "UPDATE test_product_source SET price = %s, version = version + 1 WHERE sku = %s",
                [new_price, sku],
            )
            message = outbox_enqueue(
                ProductPriceChangedV1(sku=sku, old_price=price, new_price=new_price, currency="EUR")
            )
        else:
            cursor.execute(
                "UPDATE test_product_source SET on_hand = %s, version = version + 1 WHERE sku = %s",
                [on_hand - 1, sku],
            )
            message = outbox_enqueue(
                StockChangedV1(sku=sku, on_hand=on_hand - 1, reserved=0, reason="sale")
            )
        assert message is not None


def product_created(sku: str, *, traceparent: str = "", correlation_id: str = "") -> Envelope:
    """A delivered `catalog.product_created.v1` event (sequence 1), as the relay sends it."""
    return Envelope(
        event_id=uuid.uuid4(),
        event_type=ProductCreatedV1.event_type,
        aggregate_type="product",
        aggregate_id=sku,
        sequence=1,
        occurred_at=now_utc(),
        origin="catalog",
        correlation_id=correlation_id,
        traceparent=traceparent,
        payload=created_event(sku, name=sku, price="1.00", on_hand=1).to_payload(),
    )


def created_event(sku: str, *, name: str, price: str, on_hand: int) -> ProductCreatedV1:
    return ProductCreatedV1(
        sku=sku,
        name=name,
        description="",
        category="c",
        price=price,
        currency="EUR",
        is_active=True,
        on_hand=on_hand,
        reserved=0,
    )


def source_state(exclude: set[str] = frozenset()) -> dict:
    return {
        r[0]: r[1:]
        for r in rows(
            "SELECT sku, name, price, on_hand, version FROM test_product_source ORDER BY sku"
        )
        if r[0] not in exclude
    }


def copy_state(exclude: set[str] = frozenset()) -> dict:
    return {
        r[0]: r[1:]
        for r in rows(
            "SELECT sku, name, price, on_hand, version FROM test_product_copy ORDER BY sku"
        )
        if r[0] not in exclude
    }


def assert_exactly_once_in_order(exclude: set[str] = frozenset()) -> int:
    """Every applied event once; per aggregate, sequences 1..n in application order."""
    log = rows("SELECT event_id, sku, sequence FROM test_applied_log ORDER BY id")
    event_ids = [r[0] for r in log]
    assert len(event_ids) == len(set(event_ids)), "an event was applied twice"
    by_sku: dict[str, list[int]] = {}
    for _event_id, sku, sequence in log:
        by_sku.setdefault(sku, []).append(sequence)
    for sku, sequences in by_sku.items():
        if sku not in exclude:
            assert sequences == list(range(1, len(sequences) + 1)), (sku, sequences)
    return len(log)


# topology and backends --------------------------------------------------------------------------
def unique_events_settings(base: dict | None = None) -> dict:
    """A private exchange and queue per test run: the broker is shared with other people."""
    tag = uuid.uuid4().hex[:10]
    return {
        **(base or {}),
        "EXCHANGE": f"test.events.{tag}",
        "SUBSCRIPTIONS": {f"{CONSUMER}.{tag}": ("catalog.#",)},
        "RELAY_POLL_INTERVAL": 0.05,
        "RELAY_LEASE_SECONDS": 3.0,  # a SIGKILLed relay's claims come back quickly
        "RELAY_IDLE_INTERVAL": 0.5,
        "RELAY_BACKOFF_BASE": 0.05,
        "RELAY_BACKOFF_MAX": 1.0,
        "INBOX_BACKOFF_BASE": 0.05,
    }


def queue_name_for(events: dict) -> str:
    return next(iter(events["SUBSCRIPTIONS"]))


def amqp_port(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    return parsed.hostname or "127.0.0.1", parsed.port or 5672


# processes --------------------------------------------------------------------------------------
class Processes:
    """Relays and consumers started as child processes; all killed when the block ends."""

    def __init__(self, events: dict, extra_env: dict | None = None):
        self.events = events
        self.extra_env = extra_env or {}
        self.children: list[subprocess.Popen] = []
        self.roles: dict[int, str] = {}  # live children to restart if they die
        self._role_of: dict[int, str] = {}
        self.restarts = 0

    def keep_alive(self) -> None:
        """Restart (without fault injection) every child that died, like a supervisor would."""
        for proc in list(self.children):
            if proc.poll() is not None and self.roles.pop(proc.pid, None):
                self.restarts += 1
                self.start(self._role_of[proc.pid])

    def start(self, role: str, **env: str) -> subprocess.Popen:
        child_env = {
            **os.environ,
            "SK_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
            "SK_EVENTS_JSON": json.dumps(self.events),
            "LOG_LEVEL": "WARNING",
            **self.extra_env,
            **env,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.events.proc", role],
            cwd=ROOT,
            env=child_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.children.append(proc)
        self.roles[proc.pid] = role
        self._role_of[proc.pid] = role
        return proc

    def stop_all(self) -> None:
        for proc in self.children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.children:
            try:
                _, stderr = proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, stderr = proc.communicate()
            if proc.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL):
                # shown by pytest when the test fails
                print(f"child {proc.args[-1]} exited {proc.returncode}:\n{stderr.decode()[-4000:]}")


@contextmanager
def processes(events: dict, extra_env: dict | None = None):
    procs = Processes(events, extra_env)
    try:
        yield procs
    finally:
        procs.stop_all()


@contextmanager
def info_lines(monkeypatch, module: str, logger_name: str, level: int):
    """Record the `info` lines `module`'s structlog logger builds, with the stdlib logger
    `logger_name` (where those lines end) set to `level`; yields the (event, fields) list."""
    import logging

    lines: list[tuple[str, dict]] = []
    recorder = type("Recorder", (), {"info": lambda self, event, **kw: lines.append((event, kw))})
    monkeypatch.setattr(f"{module}.logger", recorder())
    stdlib_logger = logging.getLogger(logger_name)
    before = stdlib_logger.level
    stdlib_logger.setLevel(level)
    try:
        yield lines
    finally:
        stdlib_logger.setLevel(before)
