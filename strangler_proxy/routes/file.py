"""The live routes file: where it is, reading it, and the one locked writer every editor uses.

Where: `$STRANGLER_ROUTES_FILE` when set (tests, containers, a Kubernetes ConfigMap), else
`<data folder>/routes.yaml`, made from the packaged template the first time, so that flipping a
route at run time never edits the repository's copy.

Writing: the CLI, the admin API and the lifecycle controller all change the file through
`route_change`, one read-modify-write under the file's lock (servicekit.web.files), so a change
landing between another writer's read and write is never lost. The new text is validated
before it replaces the file atomically; a refused change leaves the file as it was. After
each change the nginx plane, when configured (STRANGLER_NGINX_CONF), is regenerated and reloaded.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from servicekit.web.env import data_dir
from servicekit.web.files import atomic_write, file_lock, locked_update
from strangler_proxy.routes.load import parse_table
from strangler_proxy.routes.model import Route, RouteTable, RouteTableError

logger = logging.getLogger("strangler_proxy.routes")
TEMPLATE = Path(__file__).resolve().parent.parent / "routes.yaml"
# what `routes set` and `PATCH /_strangler/routes/<name>` may change
ROUTE_SETTABLE = frozenset(
    {"mode", "percent", "upstream", "fallback", "auth", "timeout", "methods"}
)


def live_routes_file(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    configured = environ.get("STRANGLER_ROUTES_FILE")
    if configured:
        return Path(configured)
    path = data_dir(environ=environ) / "routes.yaml"
    if not path.exists():
        with file_lock(path):
            if not path.exists():
                atomic_write(path, TEMPLATE.read_bytes())
    return path


def read_raw(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The file as written (no `${VAR}` expansion), for showing and editing."""
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@dataclass(frozen=True)
class RouteChange:
    """A change to one route: `fields` set (None removes one), `retired` sets or clears
    `lifecycle.retired`. `plan` sees the typed route and table as they are under the lock and
    returns more fields to set, or raises to refuse the change."""

    route: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    retired: bool | None = None
    plan: Callable[[Route, RouteTable], Mapping[str, Any]] | None = None


def route_change(path: str | os.PathLike[str], change: RouteChange) -> RouteTable:
    """Apply `change` under the file's lock; raise KeyError for an unknown route and
    RouteTableError when the result is not a valid table (the file is then unchanged)."""
    source = os.fspath(path)

    def apply(text: str | None) -> tuple[str, RouteTable]:
        if text is None:
            raise FileNotFoundError(source)
        data = yaml.safe_load(text)
        raw = next((r for r in data.get("routes", []) if r.get("name") == change.route), None)
        if raw is None:
            raise KeyError(change.route)
        fields = dict(change.fields)
        if change.plan is not None:
            table = parse_table(text, source=source)
            fields.update(change.plan(table.route(change.route), table))
        for key, value in fields.items():
            if value is None:
                raw.pop(key, None)
            else:
                raw[key] = value
        if change.retired:
            raw["lifecycle"] = {**(raw.get("lifecycle") or {}), "retired": True}
        elif change.retired is False and (raw.get("lifecycle") or {}).get("retired"):
            raw["lifecycle"].pop("retired")
        new_text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
        return new_text, parse_table(new_text, source=source)

    table = locked_update(path, apply)
    # the nginx plane, when configured, is regenerated from the file and reloaded; the change
    # itself stands (the Python plane already serves it): a failed reload is logged loudly
    from strangler_proxy.export.publish import ReloadFailed, publish

    try:
        publish(path)
    except (ReloadFailed, OSError, subprocess.TimeoutExpired) as exc:
        logger.error(
            "route %s changed, but the nginx plane was not reloaded: %s", change.route, exc
        )
    return table


def route_update(path: str | os.PathLike[str], name: str, changes: dict[str, Any]) -> RouteTable:
    """An operator's change (CLI, admin API) of settable fields; None removes a field.
    Values are data: a `${VAR}` in them is refused, so nothing sent here reads the environment."""
    unknown = set(changes) - ROUTE_SETTABLE
    if unknown:
        raise RouteTableError(f"fields not settable here: {', '.join(sorted(unknown))}")
    for key, value in changes.items():
        if has_placeholder(value):
            raise RouteTableError(
                f"{key}: must not hold a ${{...}} placeholder (expanded only in the file an "
                "operator writes, never in a change sent here)"
            )
    return route_change(path, RouteChange(route=name, fields=changes))


def has_placeholder(value: Any) -> bool:
    """`${` anywhere in a value: once in the file it would be expanded from the environment."""
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, list | tuple):
        return any(has_placeholder(v) for v in value)
    if isinstance(value, dict):
        return any(has_placeholder(v) for v in value.values())
    return False
