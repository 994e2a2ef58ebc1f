"""`make run`'s supervisor (scripts/supervisor.py) on small stand-in processes: a dead process is
restarted with backoff while the others keep running, and SIGINT (Ctrl-C) stops every process
group, children included; the log format `make run` asks its processes for, and `--only`'s
choice of processes and services."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from servicekit.web.procfile import read_procfile
from tests.support.fleet import run_script
from tests.support.processes import stop_process
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead; its parent has just not reaped it yet
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


@pytest.fixture
def supervised(tmp_path):
    """A supervisor over three processes: `sleeper` keeps a child of its own in its group,
    `steady` just waits, `crasher` exits 3 at once each time it starts."""
    script = tmp_path / "supervise.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from pathlib import Path
            sys.path.insert(0, {str(ROOT / "scripts")!r})
            from supervisor import Supervisor
            processes = {{
                "sleeper": "sh -c 'sleep 300 & echo child $! ; wait'",
                "steady": "sleep 300",
                "crasher": "sh -c 'echo crashing; exit 3'",
            }}
            sys.exit(Supervisor(processes, cwd=Path({str(tmp_path)!r}), env=dict(__import__("os").environ),
                                run_dir=Path({str(tmp_path / "run")!r}), base=0.2, cap=0.5, grace=5).run())
            """
        )
    )
    log = tmp_path / "supervisor.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, str(script)], stdout=out, stderr=out)
        try:
            yield process, tmp_path / "run", log
        finally:
            stop_process(process)


def pid_of(run: Path, name: str) -> int:
    return int((run / f"{name}.pid").read_text())


def test_a_dead_process_is_restarted_and_the_others_keep_running(supervised):
    process, run, log = supervised
    wait_for(lambda: "child" in log.read_text(), timeout=30, what="the processes to start")
    steady = pid_of(run, "steady")
    sleeper = pid_of(run, "sleeper")

    # when: the steady process's whole group is killed, as the tutorial kills the catalog
    os.killpg(steady, signal.SIGKILL)

    # then: it comes back under a new pid, said on the console; the others never stopped
    wait_for(
        lambda: (run / "steady.pid").exists() and pid_of(run, "steady") != steady,
        timeout=30,
        what="steady to restart",
    )
    text = log.read_text()
    assert "steady was killed by SIGKILL; restarting it in" in text
    assert "crasher exited with code 3; restarting it in" in text
    wait_for(lambda: "(restart 3 in a row" in log.read_text(), timeout=30, what="backoff to go on")
    assert alive(sleeper)
    assert process.poll() is None


def test_sigint_stops_every_process_and_their_children(supervised):
    process, run, log = supervised
    wait_for(lambda: "child" in log.read_text(), timeout=30, what="the processes to start")
    grandchild = int(log.read_text().split("child ", 1)[1].split()[0])
    pids = [pid_of(run, name) for name in ("sleeper", "steady")]

    # when: Ctrl-C
    process.send_signal(signal.SIGINT)

    # then: the supervisor exits 0, and nothing it started outlives it
    assert process.wait(timeout=30) == 0
    assert "every process stopped" in log.read_text()
    for pid in [*pids, grandchild]:
        assert not alive(pid), f"pid {pid} outlived the supervisor"
    assert not (run / "steady.pid").exists()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("environ", "stdout", "expected"),
    [
        ({}, Terminal(), "console"),  # a person runs `make run`: readable, coloured lines
        ({"DJANGO_ENV": "production"}, Terminal(), None),  # each process picks JSON itself
        ({}, io.StringIO(), None),  # piped (the tests' fleets): each process picks JSON itself
        ({"LOG_FORMAT": "json"}, Terminal(), "json"),  # asked for
        ({"LOG_JSON": "true"}, Terminal(), None),
    ],
)
def test_make_run_asks_for_console_logs_only_at_a_terminal(monkeypatch, environ, stdout, expected):
    run = run_script()
    for name in ("LOG_FORMAT", "LOG_JSON", "LOG_COLORS", "DJANGO_ENV"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdout", stdout)

    env = run.fleet_env()

    assert env.get("LOG_FORMAT") == expected
    assert env.get("LOG_COLORS") == ("true" if expected == "console" else None)


def test_each_procfile_process_belongs_to_the_service_it_is_named_for():
    run = run_script()
    assert run.services_of(["monolith", "monolith-worker"]) == ["monolith"]
    assert run.services_of(["proxy"]) == []
    every = list(read_procfile(ROOT / "Procfile"))
    assert run.services_of(every) == list(run.MANAGE)
    assert run.services_of(["catalog-relay", "orders-saga"]) == ["catalog", "orders"]


def test_make_run_refuses_to_start_only_a_process_the_procfile_lacks(tmp_path):
    done = subprocess.run(
        [sys.executable, "scripts/run.py", "--only", "monolith", "monolith-wrker"],
        cwd=ROOT,
        env={**os.environ, "STRANGLER_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "--only: not in the Procfile: monolith-wrker" in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing migrated, nothing started
