"""A proxy stopped while its granian workers are still starting stops at once.

granian sets a worker's signal handlers only once the application is loaded; before
strangler_proxy.serve.worker_application, a SIGTERM sent then was lost and the worker killed
after `workers_kill_timeout` (30 s): every fleet stopped during a start paid that."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.processes import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _start(tmp_path):
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "strangler_proxy.serve", "--bind", f"127.0.0.1:{free_port()}"],
            cwd=ROOT,
            env={
                **os.environ,
                "STRANGLER_DATA_DIR": str(tmp_path),
                "DJANGO_SETTINGS_MODULE": "strangler_proxy.settings",
                "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
            },
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while len(_children(process.pid)) < 2 and time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")
        time.sleep(0.01)
    workers = _children(process.pid)
    assert len(workers) >= 2, "granian started no workers"
    return process, workers, log


def _assert_stopped_cleanly(process, log):
    process.wait(timeout=90)
    text = log.read_text(errors="replace")
    assert "refused to gracefully stop" not in text, text
    assert "Unexpected exit" not in text, text
    assert process.returncode == 0, text


def test_sigterm_while_workers_import_the_application_stops_them_gracefully(tmp_path):
    process, _workers, log = _start(tmp_path)
    try:
        # The workers have just been forked: they are importing Django and the proxy.
        os.killpg(process.pid, signal.SIGTERM)
        _assert_stopped_cleanly(process, log)
    finally:
        stop_process(process, group=True)


def test_a_group_signal_that_reaches_the_workers_first_is_not_taken_for_a_crash(tmp_path):
    """A group's SIGTERM reaches the processes in no set order (CI saw the workers first: the
    main process logged "Unexpected exit from worker-1" and exited 1). Here the workers get it
    well before the main process, deterministically."""
    process, workers, log = _start(tmp_path)
    try:
        for pid in workers:
            os.kill(pid, signal.SIGTERM)
        time.sleep(0.5)
        os.kill(process.pid, signal.SIGTERM)
        _assert_stopped_cleanly(process, log)
    finally:
        stop_process(process, group=True)
