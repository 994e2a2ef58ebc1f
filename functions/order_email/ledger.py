"""Where the function keeps its state between invocations: which events were emailed (claimed
before sending, marked after) and the recipient directory the users stream fills.

A function has no memory of its own, so this lives in a database named by
`ORDER_EMAIL_DATABASE_URL`: PostgreSQL in production (`postgres://...`), an SQLite file locally
(`sqlite:///path`). Each statement commits on its own; no transaction spans the SMTP call.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

Claim = Literal["claimed", "sent", "busy"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS order_email_sent (
        event_id VARCHAR(36) PRIMARY KEY,
        claimed_at DOUBLE PRECISION NOT NULL,
        sent_at DOUBLE PRECISION
    )""",
    """CREATE TABLE IF NOT EXISTS order_email_recipient (
        user_id BIGINT PRIMARY KEY,
        email VARCHAR(254) NOT NULL,
        sequence BIGINT NOT NULL
    )""",
)


@dataclass(frozen=True)
class Recipient:
    user_id: int
    email: str


class EmailLedger:
    """The dedup records and the recipient directory, over one DB-API connection.

    Thread-safe: the functions-framework server answers on several threads, and one warm
    instance holds one connection (statements are short; they take turns).
    """

    def __init__(self, connection: Any, *, placeholder: str):
        self._connection = connection
        self._placeholder = placeholder
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, url: str) -> EmailLedger:
        """Open `url` (sqlite:///path or postgres://...) and create the tables if missing."""
        parts = urlsplit(url)
        if parts.scheme == "sqlite":
            connection = sqlite3.connect(
                parts.path, isolation_level=None, timeout=30, check_same_thread=False
            )
            ledger = cls(connection, placeholder="?")
        elif parts.scheme in ("postgres", "postgresql"):
            import psycopg  # only a PostgreSQL deployment pays for its import

            ledger = cls(psycopg.connect(url, autocommit=True), placeholder="%s")
        else:
            raise ValueError(f"ORDER_EMAIL_DATABASE_URL: unsupported scheme {parts.scheme!r}")
        for statement in _SCHEMA:
            ledger._run(statement)
        return ledger

    def close(self) -> None:
        self._connection.close()

    def _run(self, sql: str, params: tuple = ()) -> tuple[int, Any]:
        """(rows changed, the first row returned or None)."""
        with self._lock:
            cursor = self._connection.cursor()
            cursor.execute(sql.replace("%s", self._placeholder), params)
            row = cursor.fetchone() if cursor.description else None
            return cursor.rowcount, row

    # dedup ------------------------------------------------------------------------------------
    def claim(self, event_id: str, *, now: float, lease: float) -> tuple[Claim, float]:
        """Take the right to email `event_id`: "claimed" (go ahead), "sent" (done before) or
        "busy" (another invocation holds a claim younger than `lease` seconds). A claim older
        than the lease is taken over: its holder died between claiming and marking.
        Returns the outcome and the claim's time (what `release` needs)."""
        inserted, _ = self._run(
            "INSERT INTO order_email_sent (event_id, claimed_at) VALUES (%s, %s) "
            "ON CONFLICT (event_id) DO NOTHING",
            (event_id, now),
        )
        if inserted:
            return "claimed", now
        _, row = self._run(
            "SELECT claimed_at, sent_at FROM order_email_sent WHERE event_id = %s", (event_id,)
        )
        if row is None:  # released between our insert and this read: the next delivery claims
            return "busy", now
        claimed_at, sent_at = row
        if sent_at is not None:
            return "sent", claimed_at
        if claimed_at > now - lease:
            return "busy", claimed_at
        taken, _ = self._run(
            "UPDATE order_email_sent SET claimed_at = %s "
            "WHERE event_id = %s AND claimed_at = %s AND sent_at IS NULL",
            (now, event_id, claimed_at),
        )
        return ("claimed" if taken else "busy"), now

    def mark_sent(self, event_id: str, *, now: float) -> None:
        self._run("UPDATE order_email_sent SET sent_at = %s WHERE event_id = %s", (now, event_id))

    def release(self, event_id: str, *, claimed_at: float) -> None:
        """Give a claim back after a failed send, so the redelivery sends."""
        self._run(
            "DELETE FROM order_email_sent "
            "WHERE event_id = %s AND claimed_at = %s AND sent_at IS NULL",
            (event_id, claimed_at),
        )

    def was_sent(self, event_id: str) -> bool:
        _, row = self._run("SELECT sent_at FROM order_email_sent WHERE event_id = %s", (event_id,))
        return row is not None and row[0] is not None

    # recipients -------------------------------------------------------------------------------
    def recipient_put(self, *, user_id: int, email: str, sequence: int) -> None:
        """Record a user's address; an older event of the user stream never overwrites a newer
        one (the queue may deliver them out of order)."""
        self._run(
            "INSERT INTO order_email_recipient (user_id, email, sequence) VALUES (%s, %s, %s) "
            "ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, "
            "sequence = excluded.sequence WHERE order_email_recipient.sequence < excluded.sequence",
            (user_id, email, sequence),
        )

    def recipient_get(self, user_id: int) -> Recipient | None:
        _, row = self._run(
            "SELECT user_id, email FROM order_email_recipient WHERE user_id = %s", (user_id,)
        )
        return Recipient(user_id=row[0], email=row[1]) if row else None
