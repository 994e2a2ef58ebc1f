"""Fixtures for the events tests: a file-backed SQLite test database, backend gating, tables."""

from __future__ import annotations

import pytest

from servicekit.web.env import data_dir
from tests.events import support
from tests.support.backends import required_backends
from tests.support.wait import WaitTimeout, wait_port


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    # Child processes (relays, consumers) must open the same test database: on SQLite that
    # needs a file, not the default in-memory database.
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        database.setdefault("TEST", {})["NAME"] = str(data_dir() / "test_events.sqlite3")


@pytest.fixture
def postgres_only():
    """For tests meaningful only on PostgreSQL (SKIP LOCKED races, LISTEN/NOTIFY)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        if "postgres" in required_backends():
            pytest.fail("STRANGLER_REQUIRE_BACKENDS names postgres but DATABASE_URL is not set")
        pytest.skip("PostgreSQL only (runs in the real-server pass of make test)")


@pytest.fixture
def rabbitmq_only(settings):
    url = settings.CELERY_BROKER_URL
    if not url.startswith("amqp"):
        if "rabbitmq" in required_backends():
            pytest.fail("STRANGLER_REQUIRE_BACKENDS names rabbitmq but CELERY_BROKER_URL is unset")
        pytest.skip("RabbitMQ only (runs in the real-server pass of make test)")
    host, port = support.amqp_port(url)
    try:
        wait_port(host, port, timeout=5)
    except WaitTimeout:
        pytest.fail(f"RabbitMQ configured at {url} but unreachable")


@pytest.fixture
def events_settings(settings):
    """A private exchange and queue, removed afterwards (the queue with any message left)."""
    from kombu import Connection

    from servicekit.events.broker.topology import delete_topology

    events = support.unique_events_settings({"SERVICE": "monolith"})
    settings.SERVICEKIT_EVENTS = events
    yield events
    try:
        with Connection(
            settings.CELERY_BROKER_URL, transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS
        ) as connection:
            connection.ensure_connection(max_retries=3)
            delete_topology(
                connection, exchange_name=events["EXCHANGE"], subscriptions=events["SUBSCRIPTIONS"]
            )
    except Exception:
        pass


@pytest.fixture
def tables(transactional_db):
    support.create_tables()
    yield
    support.drop_tables()


@pytest.fixture
def consumer():
    return support.test_consumer()
