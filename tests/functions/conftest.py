"""Fixtures for the order-email function: a real SMTP sink, its ledger database, its env.

The ledger is an SQLite file on the embedded pass and a fresh PostgreSQL database (dropped
after) when `DATABASE_URL` names a PostgreSQL server (the real pass of `make test`).
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support.envelopes import sequences_reset
from tests.support.smtp_sink import smtp_sink


@pytest.fixture(autouse=True)
def _fresh_sequences():
    sequences_reset()


@pytest.fixture
def sink():
    with smtp_sink() as sink:
        yield sink


@pytest.fixture
def ledger_url(tmp_path):
    server = os.environ.get("DATABASE_URL", "")
    if not server.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{tmp_path / 'order_email.sqlite3'}"
        return
    import psycopg

    name = f"strangler_order_email_{uuid.uuid4().hex[:12]}"
    admin = urlunsplit(urlsplit(server)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def function_env(sink, ledger_url) -> dict[str, str]:
    """The environment a deployment gives the function (see .env.example), as the sender."""
    return {
        "ORDER_EMAIL_DATABASE_URL": ledger_url,
        "ORDER_EMAIL_SMTP_URL": sink.url,
        "DEFAULT_FROM_EMAIL": "shop@strangler.local",
        "NOTIFICATIONS_ORDER_EMAIL": "function",
    }
