"""Walk migrations_plan/ from the first chapter to the last on a live fleet, in order.

The fleet is what `make run` starts (scripts/run.py: migrate, seed, every Procfile process),
on free ports and a fresh data folder. Each chapter's commands run in bash with the state of
the previous ones (variables persist, like a reader's shell); a command that fails, or prints
something other than what the chapter shows, fails the test naming the chapter and line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from servicekit.ports import PORTS, path_of, port_env_var
from tests.support.fleet import free_port, wait_http
from tests.tutorial.chapters import chapters, mismatch, steps_of

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    data = tmp_path_factory.mktemp("tutorial-fleet")
    ports = {name: free_port() for name in PORTS}
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")
        },
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "STRANGLER_DATA_DIR": str(data),
        "DJANGO_ENV": "local",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "LOG_LEVEL": "WARNING",
        **{port_env_var(name): str(port) for name, port in ports.items()},
    }
    with open(data / "fleet.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "scripts/run.py"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            for name, port in ports.items():
                if (ROOT / "extracted" / name).exists() or name in ("proxy", "monolith"):
                    wait_http(
                        f"http://127.0.0.1:{port}{path_of(name, 'health')}",
                        timeout=180,
                        process=process,
                    )
            urls = {name.upper(): f"http://127.0.0.1:{port}" for name, port in ports.items()}
            yield {**env, **urls}, data
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def run_step(
    command: str, env: dict[str, str], state: Path, forced: dict[str, str]
) -> subprocess.CompletedProcess:
    # Like a reader's shell: earlier assignments persist; the fleet's URLs always win.
    pinned = " ".join(f"{k}={v}" for k, v in forced.items())
    script = (
        f"set -a\n[ -f {state} ] && . {state}\n{pinned}\ncd {ROOT}\nset -o pipefail\n"
        f"{command}\nstatus=$?\n{{ export -p; declare -f; }} > {state}\nexit $status\n"
    )
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=180
    )


def test_the_tutorial_runs_as_written(fleet):
    env, data = fleet
    forced = {k: env[k] for k in (*(n.upper() for n in PORTS), "STRANGLER_DATA_DIR")}
    state = data / "shell-state.sh"
    found = [step for chapter in chapters() for step in steps_of(chapter)]
    assert len(found) >= 20, "the tutorial lost its commands"
    for step in found:
        result = run_step(step.command, env, state, forced)
        output = result.stdout + result.stderr
        where = f"{step.chapter}:{step.line}: $ {step.command}"
        assert result.returncode == 0, (
            f"{where}\nexit {result.returncode}\n{output[-3000:]}\n--- fleet log:\n{(data / 'fleet.log').read_text()[-3000:]}"
        )
        problem = mismatch(step.expected, output)
        assert problem is None, f"{where}\n{problem}\n--- printed:\n{output[-3000:]}"
