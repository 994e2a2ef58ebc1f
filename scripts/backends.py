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


def available(*, patience: float = 0.0) -> dict[str, bool]:
    """Which servers answer; with `patience`, a server that is restarting gets that long."""
    import time

    ports = {"postgres": 5432, "rabbitmq": 5672, "redis": 6379}
    deadline = time.monotonic() + patience
    up = {name: reachable("127.0.0.1", port) for name, port in ports.items()}
    while not all(up.values()) and time.monotonic() < deadline:
        time.sleep(1.0)
        up = {name: up[name] or reachable("127.0.0.1", port) for name, port in ports.items()}
    return up
