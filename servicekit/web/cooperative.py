"""Blocking code run on an event loop's own thread, in a greenlet that lends the loop its waits.

`await run(fn, *args, executor=pool)` calls the ordinary (blocking-style) function `fn` in a
greenlet on the loop's thread. Where `fn` would wait, the few places that know how hand the loop
what they wait for instead of blocking the thread: `wait(awaitable)` switches back to `run`,
which awaits it (other requests are served meanwhile) and switches in again with its result or
its exception. No thread hand-off, no event-loop wake-up from another thread, no GIL handed
between threads per request: that is what a request served by a thread pool pays (the
technique is SQLAlchemy's `greenlet_spawn`, with the `greenlet` library gevent is built on).
`start(fn, *args, executor=pool, done=callback)` does the same from a loop callback without a
task (a server that starts a job per request: uvicorn's protocol, strangler_proxy/edge/
wsgi_cycle.py): each future the job waits for resumes it from that future's callback, and
`done` gets its outcome. A greenlet that finished its job waits for the next one (up to
`_IDLE_KEPT` per thread), each job in an empty `contextvars` context as a new greenlet's would
be.

Outside such a greenlet (a worker thread, a command, a test) every helper here blocks as
before, so the same code serves both. The helpers:

- `wait_socket(sock, write=..., timeout=...)`: until a socket is readable or writable.
- `blocking(fn, *args)`: a call that has no cooperative form (a Redis round trip, DNS and
  connect, a TLS read, a JWKS fetch) runs in `run`'s executor; the loop is free meanwhile.
- `ReadWatch(sock)`: the same for a socket read again and again (a kept-alive connection),
  which stays registered with the loop between its waits.
- `sleep(seconds)`.

A lock must never be held across one of these waits by code that another request could need
(it would block the loop's thread): the callers keep their locks around memory only.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

import greenlet

from servicekit.web.deadline import Deadline

__all__ = [
    "Offloaded",
    "ReadWatch",
    "active",
    "blocking",
    "run",
    "sleep",
    "start",
    "wait",
    "wait_socket",
]

T = TypeVar("T")


# Idle greenlets kept per thread for the next `run`: a greenlet's first call allocates its
# own Python frame stack (an mmap, and an munmap when it ends: with the worker's other threads
# running, each munmap is a TLB shootdown across CPUs), so one greenlet serves job after job.
_IDLE_KEPT = 64


class _Idle(threading.local):
    def __init__(self) -> None:
        self.pool: list[_Lent] = []
        self.lends = False  # whether this thread ever lent a greenlet (see `_lent`)


_idle = _Idle()


class _Outcome:
    """What a job ended with: its value or its exception (never an awaitable)."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any = None, error: BaseException | None = None):
        self.value = value
        self.error = error

    def result(self) -> Any:
        """The value, or the exception raised; either let go of here (the idle greenlet's
        suspended frame still refers to this object until its next job)."""
        value, error = self.value, self.error
        self.value = self.error = None
        if error is not None:
            raise error
        return value


class _Lent(greenlet.greenlet):
    """A greenlet `run` lends its jobs: its waits go to the loop (`executor` runs `blocking`
    calls). Between jobs it waits at the top of `_serve` for the next one."""

    def __init__(self) -> None:
        super().__init__(self._serve)
        self.executor: Executor | None = None

    def _serve(self, fn: Callable[..., Any], args: tuple) -> None:
        while True:
            try:
                outcome = _Outcome(fn(*args))
            except greenlet.GreenletExit:
                raise  # the greenlet is being discarded mid-job: it ends here
            except BaseException as exc:
                outcome = _Outcome(error=exc)
            del fn, args  # (nothing of the job is kept while idle)
            fn, args = self.parent.switch(outcome)


def _take(executor: Executor | None) -> _Lent:
    if _idle.pool:
        child = _idle.pool.pop()
    else:
        _idle.lends = True
        child = _Lent()
    child.parent = greenlet.getcurrent()  # where its waits and its outcome go
    child.executor = executor
    child.gr_context = contextvars.Context()  # each job starts in an empty context, as new
    return child


def _give_back(child: _Lent) -> None:
    child.executor = None
    if len(_idle.pool) < _IDLE_KEPT:
        _idle.pool.append(child)


async def run(fn: Callable[..., T], /, *args: Any, executor: Executor | None = None) -> T:
    """`fn(*args)` on this thread; each awaitable it hands over through `wait` is awaited here.
    A cancellation (or any exception of an awaitable) is raised inside `fn` where it waited."""
    child = _take(executor)
    handed = child.switch(fn, args)
    while type(handed) is not _Outcome:
        try:
            result = await handed
        except BaseException as exc:
            handed = child.throw(exc)
        else:
            handed = child.switch(result)
    _give_back(child)  # (only a child that finished its job: one left mid-job is dropped)
    return handed.result()


def start(
    fn: Callable[..., Any],
    /,
    *args: Any,
    executor: Executor | None = None,
    done: Callable[[Callable[[], Any]], None],
) -> None:
    """`run` driven by callbacks instead of a task: `fn(*args)` starts now, on this thread (in
    a callback of the running loop); each future it waits for resumes it from that future's
    callback (any other awaitable becomes a task first). `done(result)` is called once it
    ends, `result()` giving its value or raising its exception. No task and no coroutine frame
    per job, nor a task step per wait; nothing cancels the job (a server that must stop one
    closes its connection instead)."""
    child = _take(executor)
    _drive(child, done, child.switch(fn, args))


def _drive(child: _Lent, done: Callable[[Callable[[], Any]], None], handed: Any) -> None:
    while type(handed) is not _Outcome:
        future = handed if asyncio.isfuture(handed) else asyncio.ensure_future(handed)
        if not future.done():
            future.add_done_callback(functools.partial(_resume, child, done))
            return
        handed = _settled(child, future)
    _give_back(child)
    done(handed.result)


def _resume(child: _Lent, done: Callable[[Callable[[], Any]], None], future: Any) -> None:
    _drive(child, done, _settled(child, future))


def _settled(child: _Lent, future: Any) -> Any:
    """What `child` hands over next, given the done `future` it waited for."""
    try:
        result = future.result()
    except BaseException as exc:
        return child.throw(exc)
    return child.switch(result)


def _lent() -> _Lent | None:
    """The greenlet `run` lent the calling code, else None.

    A thread that never lent one is answered without `greenlet.getcurrent()`, which would make
    it a main greenlet of its own. Such a greenlet, held by a frame that a failed call's
    traceback kept (a shadow call's, from a pool thread), was found freed after its thread
    ended, while the frame still referred to it: the next garbage collection read freed memory
    and the process died (tests/proxy/test_modes.py, 4 runs in 8)."""
    if not _idle.lends:
        return None
    current = greenlet.getcurrent()
    return current if type(current) is _Lent else None


def active() -> bool:
    """Whether this code runs inside `run` (its waits must go to the loop)."""
    return _lent() is not None


def wait(awaitable: Awaitable[T]) -> T:
    """Inside `run`: the awaitable's result (or its exception), the loop serving others meanwhile."""
    current = _lent()
    if current is None:
        raise RuntimeError("cooperative.wait() outside cooperative.run()")
    return current.parent.switch(awaitable)


def blocking(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`; inside `run` it runs in `run`'s executor while the loop serves others."""
    current = _lent()
    if current is None:
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


class ReadWatch:
    """`ReadWatch(sock)`, made inside `run` for a plain (not TLS) socket: `wait(timeout)` until
    `sock` is readable, like `wait_socket`, with the socket left registered with the loop
    between waits and one timer for all its waits' timeouts (`servicekit.web.deadline`).

    `wait_socket` registers and unregisters the socket for each wait; under uvloop that makes
    and frees a poll handle each time (an ioctl, an epoll_ctl, a handle closed on the next turn
    of the loop): about a seventh of a proxy worker's samples under py-spy. Readable with
    nobody waiting (an idle connection its peer closed), the socket is unregistered until the
    next wait: the loop's poll is level-triggered and would call back on every turn.

    Only the loop's thread touches the registration; `close()` from another thread (a shadow
    call's, which took the connection from the pool) leaves the closing to the loop's thread."""

    __slots__ = ("deadline", "fd", "loop", "registered", "sock", "thread", "waiter")

    def __init__(self, sock: Any):
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()  # the loop's
        self.sock = sock
        self.fd = sock.fileno()
        self.registered = False
        self.waiter: asyncio.Future | None = None
        self.deadline = Deadline(self.loop, self._timed_out)

    def _ready(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(True)
        elif self._readable():
            self.registered = False
            self.loop.remove_reader(self.fd)

    def _timed_out(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(False)

    def _readable(self) -> bool:
        """Whether the socket holds something now (an EOF, bytes nobody asked for, an error):
        asyncio's loop also calls back for a readiness it saw before the last read."""
        try:
            self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            return True
        return True

    def wait(self, timeout: float | None) -> bool:
        """Inside `run`: True once readable, False when `timeout` seconds passed first. A True
        may be stale (asyncio's loop can run a readiness callback it queued before the caller's
        last read): read, and on EAGAIN wait again. On another loop than the one it was made
        on, a plain `wait_socket`."""
        loop = self.loop
        # `asyncio.get_running_loop() is not loop`, without its getpid system call (Python
        # 3.11 makes one per call): a thread runs one loop at a time
        if not loop.is_running() or threading.get_ident() != self.thread:
            return wait_socket(self.sock, write=False, timeout=timeout)
        ready = loop.create_future()
        if not self.registered:
            loop.add_reader(self.fd, self._ready)
            self.registered = True
        self.waiter = ready
        if timeout is not None:
            self.deadline.start(timeout)
        try:
            return wait(ready)
        finally:
            self.waiter = None
            self.deadline.stop()

    def close(self) -> None:
        """Unregistered, its timer disarmed, then the socket closed (one closed while registered
        leaves the loop a stale entry for a number the next socket may get): on the loop's
        thread."""
        loop = self.loop
        try:
            here = asyncio.get_running_loop() is loop
        except RuntimeError:
            here = False
        if here or loop.is_closed():
            self._close()
            return
        try:
            loop.call_soon_threadsafe(self._close)
        except RuntimeError:  # the loop closed meanwhile
            self._close()

    def _close(self) -> None:
        if not self.loop.is_closed():
            self.deadline.close()
            if self.registered:
                self.registered = False
                self.loop.remove_reader(self.fd)
        with contextlib.suppress(OSError):
            self.sock.close()


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
