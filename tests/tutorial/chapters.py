"""Read the tutorial's chapters: the shell sessions in ```console blocks, as steps to run.

In a chapter, a ```console block holds commands (`$ ` lines, `\\` continues a line) each
followed by the output it must print. Expected output is matched line by line, in order, as a
subsequence of what the command printed (runs of spaces count as one); `...` inside a line matches anything and a line of
only `...` skips any number of lines. A block preceded by `<!-- tutorial: not-run (why) -->`
is shown to the reader but not run by the test (the test says why it need not).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

PLAN_DIR = Path(__file__).resolve().parents[2] / "migrations_plan"
_FENCE = re.compile(r"^```console\s*$")
_SKIP = re.compile(r"<!--\s*tutorial:\s*not-run\b.*-->")


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
    current: Step | None = None
    for number, line in enumerate(lines, start=1):
        if not inside:
            if _SKIP.search(line):
                skip_next = True
            elif _FENCE.match(line):
                inside, current = True, None
            continue
        if line.startswith("```"):
            inside, skip_next = False, False
            continue
        if skip_next:
            continue
        if line.startswith("$ "):
            current = Step(path.name, number, line[2:])
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
            if _SKIP.search(line):
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


def run_step(
    command: str, env: dict[str, str], state: Path, forced: dict[str, str], *, folder: Path
) -> subprocess.CompletedProcess:
    """One command in bash from `folder`, with the shell state the previous ones left in
    `state` (the tutorial's walk; docs/adopt.md's, tests/adopt/test_guide.py, too)."""
    # Like a reader's terminal: earlier assignments persist, exported or not as the reader left
    # them; the fleet's URLs always win.
    pinned = "\n".join(f"export {k}={v}" for k, v in forced.items())
    script = (
        f"[ -f {state} ] && . {state}\n{pinned}\ncd {folder}\nset -o pipefail\n"
        f"{command}\nstatus=$?\n{{ {_SAVE_STATE} }} > {state}\nexit $status\n"
    )
    # Long enough for chapter 09's `make cost`, which starts two fleets of its own.
    return subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
