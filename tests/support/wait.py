"""Polling until something holds: one `wait_for`, and the two waits built on it (a URL answers,
a port accepts connections)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

import urllib3

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """`what` did not come about in time (an AssertionError, so pytest reports it as a failure)."""


def wait_for(
    condition: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call `condition` every `interval` seconds until it returns something truthy, and return
    that. An exception of a type in `ignore` counts as "not yet" (the last one is named if time
    runs out); any other propagates at once. Raises WaitTimeout naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = condition()
        except ignore as exc:
            last_error, result = exc, None
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error is not None else ""
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}{detail}")
        time.sleep(interval)


def wait_http(url: str, *, timeout: float = 60.0, process: subprocess.Popen | None = None) -> None:
    """Until `url` answers GET with a status below 500; fails at once if `process` exits first."""
    http = urllib3.PoolManager()

    def answers() -> bool:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        return http.request("GET", url, timeout=1.0, retries=False).status < 500

    wait_for(
        answers, timeout=timeout, what=f"{url} to answer", ignore=(urllib3.exceptions.HTTPError,)
    )


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_port(host: str, port: int, *, timeout: float) -> None:
    """Until `host:port` accepts a TCP connection."""
    wait_for(
        lambda: port_open(host, port),
        timeout=timeout,
        interval=0.5,
        what=f"{host}:{port} to accept connections",
    )
