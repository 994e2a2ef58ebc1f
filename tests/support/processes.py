"""Child processes in tests: a free port to serve on, one way to stop them, and which are alive."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

# Ports this process handed out: the kernel's choice for a closed socket may come again at
# once, and a fleet takes 7 ports (six web, one gRPC) before any of its servers binds one (two
# servers on one port: the second fails to bind, or, both with SO_REUSEPORT, they share its
# connections).
_handed_out: set[int] = set()


def free_port() -> int:
    """A free loopback port outside 8000-8010 (those belong to `make run`), never one this
    process handed out before."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if not 8000 <= port <= 8010 and port not in _handed_out:
            _handed_out.add(port)
            return port


def stop_processes(
    processes: Iterable[subprocess.Popen], *, timeout: float = 15.0, group: bool | None = None
) -> None:
    """SIGTERM to every one, then reap each, with SIGKILL for one still running after `timeout`
    seconds (they stop side by side, not one after the other).

    `group=True` signals each one's whole process group (started with `start_new_session=True`),
    even when the leader has already exited; None does so for one that leads a group of its own.
    """
    groups = {}
    for process in processes:
        if group is None and process.poll() is not None:
            continue
        groups[process] = _leads_group(process) if group is None else group
        _send(process, signal.SIGTERM, group=groups[process])
    for process, in_group in groups.items():
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _send(process, signal.SIGKILL, group=in_group)
            process.wait()


def stop_process(
    process: subprocess.Popen, *, timeout: float = 15.0, group: bool | None = None
) -> None:
    """`stop_processes` for one process."""
    stop_processes([process], timeout=timeout, group=group)


def _leads_group(process: subprocess.Popen) -> bool:
    try:
        return os.getpgid(process.pid) == process.pid
    except ProcessLookupError:
        return False


def _send(process: subprocess.Popen, sig: signal.Signals, *, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)


def _stats() -> Iterator[tuple[int, list[str]]]:
    """Each process's pid and the fields of /proc/<pid>/stat after its name (state first)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        yield int(stat.parent.name), fields


def processes_by_session() -> dict[int, int]:
    """Every live process (zombies left out: they have exited, their parent just has not reaped
    them) -> its session id, from /proc."""
    return {pid: int(fields[3]) for pid, fields in _stats() if fields[0] != "Z"}


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a server's workers), zombies included."""
    return [child for child, fields in _stats() if int(fields[1]) == pid]


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its descendants (a server's workers), from /proc: on a
    shared machine a fairer cost than wall time."""
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICK
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total
