"""The GitHub Actions workflow: valid against its schema and running what .ci/run runs."""

from __future__ import annotations

import shlex
import subprocess

import yaml

from tests.infra import fleet

WORKFLOW = fleet.ROOT / ".github" / "workflows" / "ci.yml"


def test_workflow_matches_the_github_workflow_schema():
    result = subprocess.run(
        [
            str(fleet.VENV_BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            str(WORKFLOW),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def ci_run_commands() -> list[str]:
    commands = []
    for raw in (fleet.ROOT / ".ci" / "run").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.split()[0] in ("set", "cd", "export"):
            continue
        commands.append(line)
    return commands


def normalise(command: str) -> str:
    """The command without environment assignments: `A=1 make test` -> `make test`."""
    words = shlex.split(command, posix=True)
    while words and "=" in words[0] and not words[0].startswith("-"):
        words.pop(0)
    return " ".join(words)


def test_workflow_runs_every_command_of_ci_run_and_the_manifest_checks():
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    runs = {
        normalise(step["run"]) for job in steps.values() for step in job["steps"] if "run" in step
    }
    missing = [c for c in ci_run_commands() if normalise(c) not in runs]
    assert not missing, f".ci/run commands the workflow does not run: {missing}"
    assert "make check-manifests" in runs
