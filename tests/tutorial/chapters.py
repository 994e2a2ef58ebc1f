"""Read the tutorial's chapters: the shell sessions in ```console blocks, as steps to run.

In a chapter, a ```console block holds commands (`$ ` lines, `\\` continues a line) each
followed by the output it must print. Expected output is matched line by line, in order, as a
subsequence of what the command printed (runs of spaces count as one); `...` inside a line matches anything and a line of
only `...` skips any number of lines. A block preceded by `<!-- tutorial: not-run (why) -->`
is shown to the reader but not run by the test (the test says why it need not).

A command the reader leaves running in a terminal of its own (`make load`) is a block preceded
by `<!-- tutorial: background NAME (why) -->`: the test starts its one command in the
background and walks on. Where the chapter tells the reader to stop it (Ctrl-C), a block
preceded by `<!-- tutorial: stop NAME (why) -->` holds no command, only what it printed on
stopping: the test sends it Ctrl-C's SIGINT and checks its output against those lines.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

PLAN_DIR = Path(__file__).resolve().parents[2] / "migrations_plan"
_FENCE = re.compile(r"^```console\s*$")
_SKIP = re.compile(r"<!--\s*tutorial:\s*not-run\b.*-->")
_BACKGROUND = re.compile(r"<!--\s*tutorial:\s*background\s+([\w-]+)\b.*-->")
_STOP = re.compile(r"<!--\s*tutorial:\s*stop\s+([\w-]+)\b.*-->")


# What a step keeps for the next: plain and exported variables (not bash's own read-only or
# special ones) with their export flag, and every function.
_SAVE_STATE = r"""
for _t_name in $(compgen -v); do
  case $_t_name in
    _*|BASH*|SHLVL|PWD|OLDPWD|status|FUNCNAME|PIPESTATUS|GROUPS|EPOCH*|LINENO|COMP_*) continue;;
  esac
  _t_line=$(declare -p "$_t_name" 2>/dev/null) || continue
  case $_t_line in "declare -- "*|"declare -x "*) printf '%s\n' "$_t_line";; esac
done
declare -f
"""


@dataclass
class Step:
    chapter: str
    line: int
    command: str
    expected: list[str] = field(default_factory=list)
    # `background`: a command left running under this name; `stop`: the point where the
    # command of that name is stopped (no command of its own, `expected` is what it printed).
    background: str = ""
    stop: str = ""


def chapters() -> list[Path]:
    """The numbered chapters in order, then the appendices (each starts where chapter 08 ends)."""
    return sorted(PLAN_DIR.glob("[0-9][0-9]-*.md")) + sorted(PLAN_DIR.glob("appendix-*.md"))


def selected(wanted: str | None) -> list[Path]:
    """The chapters `TUTORIAL_CHAPTERS` names, in walk order: comma-separated numbers (`05`),
    ranges (`05-07`) and appendices by name (`graphql`); empty or unset, every one of them."""
    every = chapters()
    if not (wanted or "").strip():
        return every
    names: set[str] = set()
    for part in (item.strip() for item in wanted.split(",")):
        first, _, last = part.partition("-")
        if first.isdigit() and last.isdigit():
            names |= {f"{n:02d}" for n in range(int(first), int(last) + 1)}
        elif part:
            names.add(f"{int(part):02d}" if part.isdigit() else part.removeprefix("appendix-"))
    chosen = [p for p in every if p.name[:2] in names or p.stem.removeprefix("appendix-") in names]
    unknown = (
        names - {p.name[:2] for p in every} - {p.stem.removeprefix("appendix-") for p in every}
    )
    if unknown or not chosen:
        raise ValueError(f"TUTORIAL_CHAPTERS={wanted!r}: no chapter {sorted(unknown)}")
    return chosen


def starts_at(chapter: Path) -> str:
    """The `plan.py goto` argument that puts routes and owners where `chapter` starts: an
    appendix starts where chapter 08 ends."""
    return max(chapter.name[:2], "01") if chapter.name[:2].isdigit() else "09"


def readme() -> Path:
    """The project's README.md: its ```console blocks follow the same rules as a chapter's."""
    return PLAN_DIR.parent / "README.md"


def steps_of(path: Path) -> list[Step]:
    steps: list[Step] = []
    lines = path.read_text().splitlines()
    inside = skip_next = False
    background = stop = ""
    current: Step | None = None
    for number, line in enumerate(lines, start=1):
        if not inside:
            if _SKIP.search(line):
                skip_next = True
            elif found := _BACKGROUND.search(line):
                background = found.group(1)
            elif found := _STOP.search(line):
                stop = found.group(1)
            elif _FENCE.match(line):
                inside, current = True, None
                if stop:
                    current = Step(path.name, number, "", stop=stop)
                    steps.append(current)
            continue
        if line.startswith("```"):
            inside, skip_next = False, False
            background = stop = ""
            continue
        if skip_next:
            continue
        if line.startswith("$ ") and not stop:
            current = Step(path.name, number, line[2:], background=background)
            steps.append(current)
        elif current is not None and current.command.endswith("\\") and not current.expected:
            current.command = current.command + "\n" + line  # bash joins the lines
        elif current is not None:
            current.expected.append(line)
    return steps


def silent_blocks(path: Path) -> list[int]:
    """Lines of ```console blocks that neither hold a `$ ` command nor carry the not-run
    marker: shown to the reader as commands, yet checked by nobody."""
    silent: list[int] = []
    lines = path.read_text().splitlines()
    marked = False
    start = None
    commands = False
    for number, line in enumerate(lines, start=1):
        if start is None:
            if _SKIP.search(line) or _STOP.search(line):
                marked = True
            elif _FENCE.match(line):
                start, commands = number, False
            elif line.strip():
                marked = False
            continue
        if line.startswith("```"):
            if not commands and not marked:
                silent.append(start)
            start, marked = None, False
        elif line.startswith("$ "):
            commands = True
    return silent


def _squeeze(line: str) -> str:
    """Column widths change with the data: compare words, not runs of spaces."""
    return " ".join(line.split())


def _pattern(expected: str) -> re.Pattern:
    return re.compile(
        ".*".join(re.escape(_squeeze(part)) for part in expected.strip().split("..."))
    )


def mismatch(expected: list[str], output: str) -> str | None:
    """None when every expected line appears in order; else which line was not found."""
    actual = [_squeeze(line) for line in output.splitlines()]
    position = 0
    for wanted in expected:
        if not wanted.strip() or wanted.strip() == "...":
            continue
        pattern = _pattern(wanted)
        while position < len(actual) and not pattern.fullmatch(actual[position]):
            position += 1
        if position == len(actual):
            return f"expected line not found (in order): {wanted.strip()!r}"
        position += 1
    return None


def _prologue(state: Path, forced: dict[str, str], folder: Path) -> str:
    # Like a reader's terminal: earlier assignments persist, exported or not as the reader left
    # them; the fleet's URLs always win.
    pinned = "\n".join(f"export {k}={v}" for k, v in forced.items())
    return f"[ -f {state} ] && . {state}\n{pinned}\ncd {folder}\nset -o pipefail\n"


def start_step(
    command: str,
    env: dict[str, str],
    state: Path,
    forced: dict[str, str],
    *,
    folder: Path,
    output: Path,
) -> subprocess.Popen:
    """One command left running, as in a terminal of its own that began with the walk's shell
    state; what it prints goes to `output`. It leaves the state as it found it."""
    with open(output, "wb") as log:
        return subprocess.Popen(
            ["bash", "-c", _prologue(state, forced, folder) + command],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one if the walk fails
        )


def run_step(
    command: str, env: dict[str, str], state: Path, forced: dict[str, str], *, folder: Path
) -> subprocess.CompletedProcess:
    """One command in bash from `folder`, with the shell state the previous ones left in
    `state` (the tutorial's walk; docs/adopt.md's, tests/adopt/test_guide.py, too)."""
    script = (
        f"{_prologue(state, forced, folder)}"
        f"{command}\nstatus=$?\n{{ {_SAVE_STATE} }} > {state}\nexit $status\n"
    )
    # Long enough for chapter 09's `make cost`, which starts two fleets of its own.
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
