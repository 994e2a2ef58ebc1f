"""The live routes file: where it is, reading it, and the one locked writer every editor uses.

Where: `$STRANGLER_ROUTES_FILE` when set (tests, containers, a Kubernetes ConfigMap), else
`<data folder>/routes.yaml`, made from the packaged template the first time, so that flipping a
route at run time never edits the repository's copy.

Writing: the CLI, the admin API and the lifecycle controller all change the file through
`route_change`, one read-modify-write under the file's lock (servicekit.web.files), so a change
landing between another writer's read and write is never lost. The new text is validated
before it replaces the file atomically; a refused change leaves the file as it was. After
each change the hooks in `AFTER_CHANGE` run (the nginx plane registers there when configured,
STRANGLER_NGINX_CONF: strangler_proxy/export/publish.py, wired by the composition roots).

With a shared control store (`STRANGLER_CONTROL_STORE=redis://...`) the same writers change the
deployment's versioned copy instead (compare-and-set, seeded from this file), and an operator's
change returns once every live proxy replica applied it (servicekit.web.control_store).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from servicekit.web.control_store import (
    Applied,
    ControlSettings,
    Document,
    control_document,
)
from servicekit.web.control_store.base import FileDocument
from servicekit.web.env import data_dir
from servicekit.web.files import atomic_write, file_lock
from strangler_proxy.routes.load import parse_table, yaml_dump, yaml_load
from strangler_proxy.routes.model import Route, RouteTable, RouteTableError

logger = logging.getLogger("strangler_proxy.routes")
TEMPLATE = Path(__file__).resolve().parent.parent / "routes.yaml"
# what `routes set` and `PATCH /_strangler/routes/<name>` may change
ROUTE_SETTABLE = frozenset(
    {"mode", "percent", "upstream", "fallback", "auth", "timeout", "methods", "rate_limit"}
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


def routes_document(
    target: str | os.PathLike[str] | Document, *, settings: ControlSettings | None = None
) -> Document:
    """The route table as a control document: the file at `target`, or the shared store's copy
    (seeded from that file) when one is configured; a Document is returned as it is."""
    if isinstance(target, str | os.PathLike):
        return control_document("routes", target, settings=settings)
    return target


def routes_text(target: str | os.PathLike[str] | Document) -> str:
    text = routes_document(target).fetch().text
    if text is None:
        raise FileNotFoundError(os.fspath(target) if isinstance(target, str | os.PathLike) else "")
    return text


def read_raw(target: str | os.PathLike[str] | Document) -> dict[str, Any]:
    """The table as written (no `${VAR}` expansion), for showing and editing."""
    return yaml_load(routes_text(target))


def load_live_table(target: str | os.PathLike[str] | Document) -> RouteTable:
    """The live table, parsed and validated (the file, or the shared store's copy)."""
    source = os.fspath(target) if isinstance(target, str | os.PathLike) else "routes"
    return parse_table(routes_text(target), source=source)


@dataclass(frozen=True)
class RouteChange:
    """A change to one route: `fields` set (None removes one), `retired` sets or clears
    `lifecycle.retired`, `auto` sets or clears `lifecycle.auto`. `plan` sees the typed route and
    table as they are under the lock and returns more fields to set, or raises to refuse the
    change."""

    route: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    retired: bool | None = None
    auto: bool | None = None
    plan: Callable[[Route, RouteTable], Mapping[str, Any]] | None = None


# Called after every change of a routes file with (path, route name); a hook logs its own
# failures (the change itself stands: the Python plane already serves it).
AFTER_CHANGE: list[Callable[[Path, str], None]] = []


def route_change(target: str | os.PathLike[str] | Document, change: RouteChange) -> RouteTable:
    """Apply `change` under the file's lock; raise KeyError for an unknown route and
    RouteTableError when the result is not a valid table (the file is then unchanged)."""
    return route_write(target, change)[0]


def route_write(
    target: str | os.PathLike[str] | Document, change: RouteChange
) -> tuple[RouteTable, int]:
    """`route_change`, returning the new table and the document's version."""
    document = routes_document(target)
    source = os.fspath(target) if isinstance(target, str | os.PathLike) else document.name

    def apply(text: str | None) -> tuple[str, RouteTable]:
        if text is None:
            raise FileNotFoundError(source)
        data = yaml_load(text)
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
        if change.auto:
            raw["lifecycle"] = {**(raw.get("lifecycle") or {}), "auto": True}
        elif change.auto is False and "auto" in (raw.get("lifecycle") or {}):
            raw["lifecycle"].pop("auto")
            if not raw["lifecycle"]:
                raw.pop("lifecycle")
        new_text = yaml_dump(data, sort_keys=False, default_flow_style=None, width=100)
        return new_text, parse_table(new_text, source=source)

    table, version = document.update(apply)
    if isinstance(document, FileDocument):  # a plane fed from the file (nginx) follows it
        for hook in AFTER_CHANGE:
            hook(Path(document.path), change.route)
    return table, version


def route_update(
    target: str | os.PathLike[str] | Document, name: str, changes: dict[str, Any]
) -> Applied:
    """An operator's change (CLI, admin API) of settable fields; None removes a field.
    Values are data: a `${VAR}` in them is refused, so nothing sent here reads the environment.

    Returns once every live replica applied it; raises ReplicasLagging (the change is written)
    naming those that did not within the wait."""
    unknown = set(changes) - ROUTE_SETTABLE
    if unknown:
        raise RouteTableError(f"fields not settable here: {', '.join(sorted(unknown))}")
    for key, value in changes.items():
        if has_placeholder(value):
            raise RouteTableError(
                f"{key}: must not hold a ${{...}} placeholder (expanded only in the file an "
                "operator writes, never in a change sent here)"
            )
    document = routes_document(target)
    _table, version = route_write(target, RouteChange(route=name, fields=changes))
    return document.wait_applied(version)


def has_placeholder(value: Any) -> bool:
    """`${` anywhere in a value: once in the file it would be expanded from the environment."""
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, list | tuple):
        return any(has_placeholder(v) for v in value)
    if isinstance(value, dict):
        return any(has_placeholder(v) for v in value.values())
    return False
