"""Read the Procfile: the fleet's process names and commands, shared by `make run`'s supervisor and containers."""

from __future__ import annotations

import os
import re
from pathlib import Path

_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")
_BIND = re.compile(r"--bind\s+(\S+?):(\S+)")
_WSGI = re.compile(r"([A-Za-z_][\w.]*)\.(?:wsgi|asgi)(?::\w+)?")
_CELERY_APP = re.compile(r"celery\s+(?:-A|--app)[\s=]+([A-Za-z_][\w.]*)")
_SETTINGS_FLAG = re.compile(r"(?:--settings[\s=]+|DJANGO_SETTINGS_MODULE=)([A-Za-z_][\w.]*)")
_MANAGE = re.compile(r"python3?\s+((?:[\w.-]+/)*manage\.py)\b")
# `os.environ.setdefault("DJANGO_SETTINGS_MODULE", "x")` or a pinned
# `os.environ["DJANGO_SETTINGS_MODULE"] = ("x"  # ...)`
_MANAGE_DEFAULT = re.compile(
    r"(?:setdefault\(\s*[\"']DJANGO_SETTINGS_MODULE[\"']\s*,"
    r"|\[\s*[\"']DJANGO_SETTINGS_MODULE[\"']\s*\]\s*=\s*\(?)\s*[\"']([\w.]+)[\"']"
)


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


def with_bind(command: str, host: str, port: int | str) -> str:
    """The same command listening on `host:port` (`make run --plane nginx` moves the proxy)."""
    return _BIND.sub(lambda m: f"--bind {host}:{port}", command, count=1)


def settings_module_of(command: str, root: Path) -> str | None:
    """The settings module a command runs with: `--settings`, `<pkg>.wsgi`, `celery -A <pkg>`
    or the default a `manage.py` script sets (`python extracted/catalog/manage.py ...`)."""
    if match := _SETTINGS_FLAG.search(command):
        return match.group(1)
    for pattern in (_WSGI, _CELERY_APP):
        if match := pattern.search(command):
            return match.group(1) + ".settings"
    if (match := _MANAGE.search(command)) and (root / match.group(1)).exists():
        found = _MANAGE_DEFAULT.search((root / match.group(1)).read_text(encoding="utf-8"))
        return found.group(1) if found else None
    return None


_FLAG = r"(?:^|\s){}[\s=]+(\d+)"


def _flag(command: str, *names: str, default: int) -> int:
    for name in names:
        if match := re.search(_FLAG.format(re.escape(name)), command):
            return int(match.group(1))
    return default


# Threads serving `grpc_serve`'s calls (servicekit/web/grpc_server.py), each may hold a connection.
GRPC_THREADS = 8


def database_connections(command: str, pool_size: int) -> int:
    """The most PostgreSQL connections one Procfile command of a service with a database may
    hold, with a pool of `pool_size` per process (servicekit.web.env.database_pool; 0: none,
    one connection per thread). A thread holds at most one: a pool bounds a threaded process,
    a single-threaded one holds one either way.

    gunicorn: each worker its threads' connections; Celery: the main process and each child of
    `--concurrency`; `grpc_serve`: its thread pool's; `outbox_relay`: its own and the one it
    LISTENs on; any other command (a consumer, a sweeper): one."""

    def threaded(threads: int) -> int:
        return min(threads, pool_size) if pool_size else threads

    if re.search(r"(?:^|\s)gunicorn\s", command):
        workers = _flag(command, "--workers", "-w", default=1)
        return workers * threaded(_flag(command, "--threads", default=1))
    if re.search(r"(?:^|\s)celery\s", command):
        return 1 + _flag(command, "--concurrency", "-c", default=os.cpu_count() or 1)
    if re.search(r"\sgrpc_serve\b", command):
        return threaded(_flag(command, "--workers", default=GRPC_THREADS))
    if re.search(r"\soutbox_relay\b", command):
        return 2
    return 1
