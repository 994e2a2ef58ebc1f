"""`make run`'s supervisor: every Procfile process, each restarted with backoff when it dies.

Each process runs in a process group of its own (a gunicorn master with its workers, a Celery
worker with its children), so killing one process group kills one service, not the fleet. A
process that exits, for whatever reason, is restarted after `backoff_delay` (servicekit/web/
backoff.py), said on the console; one that ran long enough before dying starts again from the
first delay. Its group id is in `<run_dir>/<name>.pid` (the tutorial kills the catalog with it).
Ctrl-C (SIGINT) or SIGTERM stops every group: SIGTERM, then SIGKILL for any still alive after
`grace` seconds, then the supervisor exits; no process outlives it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from servicekit.web.backoff import backoff_delay  # noqa: E402

_COLOURS = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94, 91]


@dataclass
class Child:
    name: str
    command: str
    colour: int
    process: subprocess.Popen | None = None
    started: float = 0.0
    failures: int = 0  # deaths in a row, each without a stable run before it
    restart_at: float | None = None


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-returncode).name}"
        return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


class Supervisor:
    def __init__(
        self,
        processes: dict[str, str],
        *,
        cwd: Path,
        env: dict[str, str],
        run_dir: Path,
        out: TextIO = sys.stdout,
        colour: bool | None = None,
        base: float = 2.0,
        cap: float = 30.0,
        stable_after: float = 60.0,
        grace: float = 10.0,
    ):
        colours = itertools.cycle(_COLOURS)
        self.children = [Child(n, c, next(colours)) for n, c in processes.items()]
        self.cwd, self.env, self.run_dir, self.out = cwd, env, run_dir, out
        self.colour = out.isatty() if colour is None else colour
        self.base, self.cap, self.stable_after, self.grace = base, cap, stable_after, grace
        self.width = max((len(n) for n in processes), default=10)
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # output
    def say(self, name: str, text: str, colour: int = 0) -> None:
        label = f"{time.strftime('%H:%M:%S')} {name:<{self.width}} |"
        if self.colour and colour:
            label = f"\033[{colour}m{label}\033[0m"
        with self._lock:
            self.out.write(f"{label} {text}\n")
            self.out.flush()

    def _pump(self, child: Child, stream) -> None:
        for raw in iter(stream.readline, b""):
            self.say(child.name, raw.decode(errors="replace").rstrip("\n"), child.colour)
        stream.close()

    # processes
    def start(self, child: Child) -> None:
        # `exec`: the shell expands ${PORT:-8000} and then becomes the process itself.
        child.process = subprocess.Popen(
            ["/bin/sh", "-c", f"exec {child.command}"],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        child.started = time.monotonic()
        child.restart_at = None
        # atomically: a reader (a chapter's `kill`, a test) never finds the file empty
        from servicekit.web.files import atomic_write

        atomic_write(self.run_dir / f"{child.name}.pid", f"{child.process.pid}\n")
        threading.Thread(target=self._pump, args=(child, child.process.stdout), daemon=True).start()
        self.say("supervisor", f"started {child.name} (pid {child.process.pid})")

    def _reap(self, child: Child, now: float) -> None:
        assert child.process is not None
        returncode = child.process.returncode
        # The group may hold children the leader left behind (gunicorn workers): gone too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, signal.SIGKILL)
        child.process = None
        if now - child.started >= self.stable_after:
            child.failures = 0
        child.failures += 1
        delay = backoff_delay(child.failures, base=self.base, cap=self.cap)
        child.restart_at = now + delay
        self.say(
            "supervisor",
            f"{child.name} {describe_exit(returncode)}; restarting it in {delay:.1f} s "
            f"(restart {child.failures} in a row; the rest of the fleet keeps running)",
        )

    def stop(self, *_args) -> None:
        self._stopping.set()

    def run(self) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        previous = {sig: signal.signal(sig, self.stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for child in self.children:
                self.start(child)
            while not self._stopping.wait(0.2):
                now = time.monotonic()
                for child in self.children:
                    if child.process is not None and child.process.poll() is not None:
                        self._reap(child, now)
                    elif child.process is None and now >= (child.restart_at or float("inf")):
                        self.start(child)
        finally:
            self.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def shutdown(self) -> None:
        """SIGTERM to every group, SIGKILL to what is left after the grace period."""
        alive = [c for c in self.children if c.process is not None]
        self.say("supervisor", f"stopping {len(alive)} processes")
        for child in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for child in alive:
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.say(
                    "supervisor", f"{child.name} ignored SIGTERM for {self.grace:.0f} s: SIGKILL"
                )
            # Whatever the leader left in its group goes with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()
            (self.run_dir / f"{child.name}.pid").unlink(missing_ok=True)
        self.say("supervisor", "every process stopped")
