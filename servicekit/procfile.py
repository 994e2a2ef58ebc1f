"""Read the Procfile: the fleet's process names and commands, shared by honcho and containers."""

from __future__ import annotations

import re
from pathlib import Path

_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")
_BIND = re.compile(r"--bind\s+(\S+?):(\S+)")


def parse_procfile(text: str) -> dict[str, str]:
    """`name: command` lines in order; blank lines and `#` comments are passed over."""
    processes: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"Procfile line {number} is not `name: command`: {raw!r}")
        name, command = match.groups()
        if name in processes:
            raise ValueError(f"Procfile names {name!r} twice")
        processes[name] = command.strip()
    return processes


def read_procfile(path: Path) -> dict[str, str]:
    return parse_procfile(path.read_text(encoding="utf-8"))


def bind_of(command: str) -> tuple[str, str] | None:
    """(host, port expression) of a gunicorn `--bind host:port`, None for non-HTTP processes."""
    match = _BIND.search(command)
    return (match.group(1), match.group(2)) if match else None


def with_bind_host(command: str, host: str) -> str:
    """The same command listening on `host` (containers listen on every interface)."""
    return _BIND.sub(lambda m: f"--bind {host}:{m.group(2)}", command, count=1)
