"""The GitHub Actions workflow: valid against its schema and running what .ci/run runs."""

from __future__ import annotations

import glob
import re
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


_FOR = re.compile(r"^for\s+(\w+)\s+in\s+(.+)$")
SKIPPED = ("set", "cd", "export")


def _lines(script: str) -> list[str]:
    """Logical lines: continuations joined, comments and blank lines dropped, `;` split
    outside quotes (so `for x in a; do cmd; done` on one line reads like three)."""
    text = script.replace("\\\n", " ")
    lines = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        lexer = shlex.shlex(line, posix=False, punctuation_chars=";")
        lexer.whitespace_split = True
        part: list[str] = []
        for token in lexer:
            if token == ";":
                lines.append(" ".join(part))
                part = []
            else:
                part.append(token)
        if part:
            lines.append(" ".join(part))
    return [line for line in lines if line]


def _expand(words: str) -> list[str]:
    """A `for` loop's word list, with globs expanded from the repository root like a shell."""
    values = []
    for word in shlex.split(words):
        matches = sorted(str(p.relative_to(fleet.ROOT)) for p in fleet.ROOT.glob(word))
        values += matches if glob.has_magic(word) else [word]
    return values


def shell_commands(script: str) -> list[str]:
    """The simple commands a script runs, `for` loops unrolled with their variable substituted:
    the workflow may loop the same way or list the commands one by one."""
    commands: list[str] = []
    lines = _lines(script)
    i = 0
    while i < len(lines):
        match = _FOR.match(lines[i])
        if not match:
            if lines[i].split()[0] not in SKIPPED:
                commands.append(lines[i])
            i += 1
            continue
        var, words = match.groups()
        assert i + 1 < len(lines) and lines[i + 1].split()[0] == "do", lines[i : i + 2]
        first = lines[i + 1][2:].strip()
        body, depth, i = ([first] if first else []), 1, i + 2
        while i < len(lines):
            depth += bool(_FOR.match(lines[i])) - (lines[i] == "done")
            if depth == 0:
                break
            body.append(lines[i])
            i += 1
        assert depth == 0, f"unterminated for loop in: {script!r}"
        i += 1
        pattern = re.compile(rf'"?\$(?:\{{{var}\}}|{var}\b)"?')
        for value in _expand(words):
            commands += shell_commands("\n".join(pattern.sub(value, b) for b in body))
    return commands


def ci_run_commands() -> list[str]:
    return shell_commands((fleet.ROOT / ".ci" / "run").read_text())


def normalise(command: str) -> str:
    """The command without how it is run: `A=1 make test` and `sudo -E env "PATH=$PATH" make test`
    -> `make test` (as root is how .ci/run runs on our machines)."""
    words = shlex.split(command, posix=True)
    if words[:1] == ["sudo"]:
        words.pop(0)
        while words and words[0].startswith("-"):
            words.pop(0)
    if words[:1] == ["env"]:
        words.pop(0)
    while words and "=" in words[0] and not words[0].startswith("-"):
        words.pop(0)
    return " ".join(words)


def workflow_commands() -> set[str]:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    return {
        normalise(command)
        for job in jobs.values()
        for step in job["steps"]
        if "run" in step
        for command in shell_commands(step["run"])
    }


def test_shell_commands_unrolls_loops_over_globs_and_keeps_plain_commands():
    script = (
        "set -euo pipefail\n"
        "make install\n"
        'for manage in manage.py extracted/*/manage.py; do\n  A=1 python "$manage" check\ndone\n'
        "for x in a b; do echo ${x}; done\n"
    )
    extracted = sorted(p.parent.name for p in fleet.ROOT.glob("extracted/*/manage.py"))
    assert extracted, "no extracted service to loop over"
    assert shell_commands(script) == [
        "make install",
        "A=1 python manage.py check",
        *[f"A=1 python extracted/{name}/manage.py check" for name in extracted],
        "echo a",
        "echo b",
    ]


def test_workflow_runs_every_command_of_ci_run_and_the_manifest_checks():
    runs = workflow_commands()
    missing = [c for c in ci_run_commands() if normalise(c) not in runs]
    assert not missing, f".ci/run commands the workflow does not run: {missing}"
    assert "make check-manifests" in runs


def test_normalise_drops_how_a_command_is_run_not_what_it_runs():
    assert normalise('sudo -E env "PATH=$PATH" make test') == "make test"
    assert normalise("CI=true make test") == "make test"
    assert normalise("make test-fast") != "make test"
