"""A proxy stopped while its workers are still starting stops at once, under granian and under
uvicorn (STRANGLER_PROXY_SERVER).

granian sets a worker's signal handlers only once the application is loaded; before
strangler_proxy.serve.worker_application, a SIGTERM sent then was lost and the worker killed
after `workers_kill_timeout` (30 s): every fleet stopped during a start paid that. A signal that
reached a child before its Python was ready after the fork was lost too (CPython clears pending
signals there): strangler_proxy.serve.hold_stop_signals_across_fork."""

from __future__ import annotations

import contextlib
import os
import signal
import time

import pytest

from tests.proxy.processes import start_serve
from tests.support.processes import children, free_port, stop_process


def _start(tmp_path, server):
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = start_serve(free_port(), tmp_path, out, STRANGLER_PROXY_SERVER=server)
    deadline = time.monotonic() + 60
    while len(children(process.pid)) < 2 and time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")
        time.sleep(0.01)
    workers = children(process.pid)
    assert len(workers) >= 2, f"{server} started no workers"
    return process, workers, log


def _assert_stopped_cleanly(process, log, since: float):
    """Stopped with status 0, no worker taken for a crash, and well before granian's
    `workers_kill_timeout` (30 s): a worker whose stop signal was lost is killed only then.
    (granian's "Killing worker-N after it refused to gracefully stop" alone proves nothing: it
    checks `is_alive()` 1 ms after `join` returned, and a worker that is exiting can still read
    alive then, which a loaded CI met in a 5-second run.)"""
    process.wait(timeout=90)
    took = time.monotonic() - since
    text = log.read_text(errors="replace")
    assert took < 20, f"stopped after {took:.0f} s (a worker killed at the timeout?)\n{text}"
    assert "Unexpected exit" not in text, text
    assert process.returncode == 0, text


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_sigterm_while_workers_import_the_application_stops_them_gracefully(tmp_path, server):
    process, _workers, log = _start(tmp_path, server)
    try:
        # The workers have just been forked: they are importing Django and the proxy.
        since = time.monotonic()
        os.killpg(process.pid, signal.SIGTERM)
        _assert_stopped_cleanly(process, log, since)
    finally:
        stop_process(process, group=True)


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_a_group_signal_that_reaches_the_workers_first_is_not_taken_for_a_crash(tmp_path, server):
    """A group's SIGTERM reaches the processes in no set order (CI saw the workers first: the
    main process logged "Unexpected exit from worker-1" and exited 1). Here the workers get it
    well before the main process, deterministically."""
    process, workers, log = _start(tmp_path, server)
    try:
        since = time.monotonic()
        for pid in workers:
            os.kill(pid, signal.SIGTERM)
        time.sleep(0.5)
        os.kill(process.pid, signal.SIGTERM)
        _assert_stopped_cleanly(process, log, since)
    finally:
        stop_process(process, group=True)


def _hold_each_worker_from_its_fork(pid: int, count: int) -> list[int]:
    """SIGSTOP each child of `pid` as soon as it appears (Linux's per-task children list, read in
    a tight loop): most often before the child ran a line of its own, as a child that a busy
    machine has not scheduled yet."""
    listing = f"/proc/{pid}/task/{pid}/children"
    held: list[int] = []
    deadline = time.monotonic() + 60
    while len(held) < count and time.monotonic() < deadline:
        try:
            with open(listing) as file:
                found = [int(child) for child in file.read().split()]
        except OSError:  # (not there yet: the main process is still starting)
            found = []
        for child in found:
            if child not in held:
                os.kill(child, signal.SIGSTOP)
                held.append(child)
    assert len(held) == count, f"saw {len(held)} workers of {count}"
    return held


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_a_stop_signal_that_reaches_workers_not_yet_scheduled_after_their_fork_still_stops_them(
    tmp_path, server
):
    """A group's SIGTERM, and the main process's own after it, that reach a worker before its
    Python is ready after the fork (CPython clears the signals marked pending then) must not be
    lost: a CI run saw that worker load, serve, and be killed only at granian's
    `workers_kill_timeout` (30 s). Each worker is held with SIGSTOP from its fork while the
    signals are sent, then let go."""
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = start_serve(free_port(), tmp_path, out, STRANGLER_PROXY_SERVER=server)
    held: list[int] = []
    try:
        held = _hold_each_worker_from_its_fork(process.pid, 2)
        since = time.monotonic()
        os.killpg(process.pid, signal.SIGTERM)
        time.sleep(0.3)  # the main process asks its workers to stop, while they are held
        for pid in held:
            os.kill(pid, signal.SIGCONT)
        _assert_stopped_cleanly(process, log, since)
    finally:
        for pid in held:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        stop_process(process, group=True)
