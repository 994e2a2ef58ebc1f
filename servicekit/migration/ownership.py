"""Who owns each replicated entity: one small YAML file that every side reads, live.

    # ownership.yaml
    product: catalog      # product details and prices are written by the catalog service
    inventory: monolith   # stock is still taken by the monolith's orders

An entity missing from the file (or no file at all) belongs to the monolith. The file is
re-read when its modification time changes, so flipping an owner (or flipping it back) needs no
restart; `ownership_set` writes it atomically.

With a shared control store (`STRANGLER_CONTROL_STORE=redis://...`) the table is the
deployment's versioned copy of this file instead: every service process follows it and reports
the version it applied, and `ownership_set` returns once every live one did.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import yaml
from django.conf import settings

from servicekit.web.control_store import (
    Applied,
    Document,
    Versioned,
    control_document,
    control_settings,
)
from servicekit.web.service_errors import ApplicationError

DEFAULT_OWNER = "monolith"
# During a handover nobody writes the entity: the old owner's last events drain to the new one.
FROZEN = "frozen"
ENTITIES = ("product", "inventory", "notification", "user", "order")  # the demo shop's
_cache: dict[str, tuple[int, dict[str, str]]] = {}
_lock = threading.Lock()
_followed: set[tuple[int, int]] = set()  # (pid, document): a forked child follows anew


class OwnerMoving(ApplicationError):
    """A write reached a service that does not own the entity.

    Not a 409: the client did not choose the upstream, the proxy did, and the proxy's route follows
    ownership within a moment of a handover (the takeover commands flip both, `--route`). So it is
    a 503 with `Retry-After`: a correct client retries and lands on the owner. `owner` in the
    problem names where the write belongs, for an operator calling a service directly.
    """

    code = "owner_moving"
    title = "The owner of this data is moving"
    retry_after = 1


class HandoverInProgress(ApplicationError):
    code = "handover_in_progress"
    title = "Ownership is being handed over"
    retry_after = 2


def known_entities() -> tuple[str, ...]:
    """The demo shop's entities and any a project names in its `OWNERSHIP_ENTITIES` setting
    (an adopted monolith's own: `OWNERSHIP_ENTITIES = ["page"]`)."""
    extra = getattr(settings, "OWNERSHIP_ENTITIES", ()) if settings.configured else ()
    return ENTITIES + tuple(e for e in extra if e not in ENTITIES)


def service_name() -> str:
    """This process's service; a project without `SERVICE_NAME` is the monolith."""
    return getattr(settings, "SERVICE_NAME", "") or DEFAULT_OWNER


def ownership_file() -> Path:
    from_settings = getattr(settings, "OWNERSHIP_FILE", "") if settings.configured else ""
    configured = from_settings or os.environ.get("OWNERSHIP_FILE", "")
    if configured:
        return Path(configured)
    from servicekit.web.env import data_dir

    return data_dir() / "ownership.yaml"


def ownership_document() -> Document:
    return control_document("ownership", ownership_file())


def _read(document: Document, path: Path, *, follow: bool) -> dict[str, str]:
    if follow and (os.getpid(), id(document)) not in _followed:  # this process is a replica
        _followed.add((os.getpid(), id(document)))
        document.follow(lambda latest: _parsed(path, latest))
    return _parsed(path, document.read() if follow else document.fetch())


def _parsed(path: Path, latest: Versioned) -> dict[str, str]:
    if latest.text is None:
        return {}
    with _lock:
        cached = _cache.get(str(path))
        if cached and cached[0] == latest.version:
            return cached[1]
        data = _parse(path, latest.text)
        _cache[str(path)] = (latest.version, data)
        return data


def _parse(path: Path, text: str) -> dict[str, str]:
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"{path}: expected a mapping of entity: owner")
    known = known_entities()
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"{path}: unknown entities {sorted(unknown)}; known: {known}")
    return data


def ownership(*, follow: bool = True) -> dict[str, str]:
    """Every entity's owner. `follow=False` for a one-off look (a CLI): the process does not
    become a replica that flips wait for."""
    data = _read(ownership_document(), ownership_file(), follow=follow)
    return {entity: data.get(entity, DEFAULT_OWNER) for entity in known_entities()}


def ownership_follow() -> None:
    """Call once per serving process (its wsgi module): with a shared control store the process
    follows the table from its start, so an ownership flip waits for it. Files: nothing to do."""
    if control_settings().store:
        ownership()


def owner_of(entity: str) -> str:
    if entity not in known_entities():
        raise ValueError(f"unknown entity {entity!r}")
    return ownership()[entity]


def owns(entity: str) -> bool:
    return owner_of(entity) == service_name()


def require_ownership(entity: str) -> None:
    """Call first in a write service: only the owner writes (and emits) an entity."""
    owner = owner_of(entity)
    if owner == FROZEN:
        raise HandoverInProgress(
            f"{entity} data is being handed over to a new owner; retry in a few seconds.",
            details={"entity": entity},
        )
    if owner != service_name():
        raise OwnerMoving(
            f"{entity} data is owned by the {owner} service; its route is moving there, "
            "retry in a moment.",
            details={"entity": entity, "owner": owner},
        )


def ownership_set(entity: str, owner: str) -> dict[str, str]:
    """Flip one entity's owner under the file's lock, atomically (readers see the old or the new
    table, never half; a concurrent writer's change to another entity is never lost). With a
    shared store, returns once every live replica applied it (ReplicasLagging otherwise)."""
    return ownership_flip(entity, owner)[0]


def ownership_flip(entity: str, owner: str) -> tuple[dict[str, str], Applied]:
    """`ownership_set`, also returning which replicas applied the flip."""
    if entity not in known_entities():
        raise ValueError(f"unknown entity {entity!r}; known: {known_entities()}")
    path = ownership_file()
    document = ownership_document()

    def change(current: str | None) -> tuple[str, None]:
        # Parsed from the text read under the lock, not from the mtime cache: two writes within
        # one timestamp tick would look unchanged to the cache.
        updated = {**_parse(path, current or ""), entity: owner}
        return yaml.safe_dump(updated, sort_keys=True), None

    _none, version = document.update(change)
    applied = document.wait_applied(version)
    return ownership(follow=False), applied
