"""Which real servers this machine offers, and the URLs the test and run scripts hand to services."""

from __future__ import annotations

import os
import socket

POSTGRES_URL = os.environ.get(
    "STRANGLER_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/strangler"
)
RABBITMQ_URL = os.environ.get("STRANGLER_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
REDIS_URL = os.environ.get("STRANGLER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def available() -> dict[str, bool]:
    return {
        "postgres": reachable("127.0.0.1", 5432),
        "rabbitmq": reachable("127.0.0.1", 5672),
        "redis": reachable("127.0.0.1", 6379),
    }
