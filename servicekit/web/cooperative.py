"""Blocking code run on an event loop's own thread, in a greenlet that lends the loop its waits.

`await run(fn, *args, executor=pool)` calls the ordinary (blocking-style) function `fn` in a
greenlet on the loop's thread. Where `fn` would wait, the few places that know how hand the loop
what they wait for instead of blocking the thread: `wait(awaitable)` switches back to `run`,
which awaits it (other requests are served meanwhile) and switches in again with its result or
its exception. No thread hand-off, no event-loop wake-up from another thread, no GIL handed
between threads per request: that is what a request served by a thread pool pays (the
technique is SQLAlchemy's `greenlet_spawn`, with the `greenlet` library gevent is built on).

Outside such a greenlet (a worker thread, a command, a test) every helper here blocks as
before, so the same code serves both. The helpers:

- `wait_socket(sock, write=..., timeout=...)`: until a socket is readable or writable.
- `blocking(fn, *args)`: a call that has no cooperative form (a Redis round trip, DNS and
  connect, a TLS read, a JWKS fetch) runs in `run`'s executor; the loop is free meanwhile.
- `sleep(seconds)`.

A lock must never be held across one of these waits by code that another request could need
(it would block the loop's thread): the callers keep their locks around memory only.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import greenlet

__all__ = ["Offloaded", "active", "blocking", "run", "sleep", "wait", "wait_socket"]

T = TypeVar("T")


class _Lent(greenlet.greenlet):
    """A greenlet started by `run`: its waits go to the loop (`executor` runs `blocking` calls)."""

    def __init__(self, fn: Callable[..., Any], executor: Executor | None):
        super().__init__(fn)
        self.executor = executor


async def run(fn: Callable[..., T], /, *args: Any, executor: Executor | None = None) -> T:
    """`fn(*args)` on this thread; each awaitable it hands over through `wait` is awaited here.
    A cancellation (or any exception of an awaitable) is raised inside `fn` where it waited."""
    child = _Lent(fn, executor)
    handed = child.switch(*args)
    while not child.dead:
        try:
            result = await handed
        except BaseException as exc:
            handed = child.throw(exc)
        else:
            handed = child.switch(result)
    return handed


def active() -> bool:
    """Whether this code runs inside `run` (its waits must go to the loop)."""
    return type(greenlet.getcurrent()) is _Lent


def wait(awaitable: Awaitable[T]) -> T:
    """Inside `run`: the awaitable's result (or its exception), the loop serving others meanwhile."""
    current = greenlet.getcurrent()
    if type(current) is not _Lent:
        raise RuntimeError("cooperative.wait() outside cooperative.run()")
    return current.parent.switch(awaitable)


def blocking(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`; inside `run` it runs in `run`'s executor while the loop serves others."""
    current = greenlet.getcurrent()
    if type(current) is not _Lent:
        return fn(*args)
    loop = asyncio.get_running_loop()
    return current.parent.switch(loop.run_in_executor(current.executor, fn, *args))


def sleep(seconds: float) -> None:
    if active():
        wait(asyncio.sleep(seconds))
    else:
        time.sleep(seconds)


def wait_socket(sock: Any, *, write: bool, timeout: float | None) -> bool:
    """Inside `run`: until `sock` is readable (or writable): True; False once `timeout` seconds
    passed first (None: no limit)."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def settle(value: bool = True) -> None:
        if not ready.done():
            ready.set_result(value)

    fd = sock.fileno()
    if write:
        loop.add_writer(fd, settle)
    else:
        loop.add_reader(fd, settle)
    timer = loop.call_later(timeout, settle, False) if timeout is not None else None
    try:
        return wait(ready)
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)
        if timer is not None:
            timer.cancel()


class Offloaded:
    """`target` (a Redis client) with every method call made through `blocking`."""

    def __init__(self, target: Any):
        self._target = target

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return blocking(functools.partial(attr, *args, **kwargs))

        return call
