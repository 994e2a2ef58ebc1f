"""Walk migrations_plan/ from the first chapter to the last on a live fleet, in order.

The fleet is what `make run` starts (scripts/run.py: migrate, seed, every Procfile process),
on free ports and a fresh data folder. Each chapter's commands run in bash with the state of
the previous ones (variables persist, like a reader's shell); a command that fails, or prints
something other than what the chapter shows, fails the test naming the chapter and line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from servicekit.web.ports import PORTS
from tests.support.fleet import procfile_fleet
from tests.tutorial.chapters import chapters, mismatch, steps_of

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    data = tmp_path_factory.mktemp("tutorial-fleet")
    with procfile_fleet(data) as env:
        yield env, data


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


# Every chapter in one walk: minutes on a busy 2-core machine, past the suite's default limit.
@pytest.mark.timeout(1800)
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
