"""The control store's settings, with every default in one place, and the documents built from
them (one store per process and setting, so each document has one follower thread)."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from servicekit.web.control_store.base import Document, FileDocument

DEFAULT_PREFIX = "strangler"


@dataclass(frozen=True)
class ControlSettings:
    """`store`: empty for the files (the embedded default), or a `redis://` URL shared by the
    deployment. `prefix` starts every Redis key of this deployment (rate limits too), so two
    fleets sharing one Redis never collide (`CACHE_KEY_PREFIX`, the services' cache prefix
    too: one setting per deployment). `ttl`: a replica's heartbeat and the evaluator's
    lease expire after it. `wait`: how long a flip waits for every live replica's ack."""

    store: str = ""
    prefix: str = DEFAULT_PREFIX
    ttl: float = 5.0
    wait: float = 15.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ControlSettings:
        environ = os.environ if environ is None else environ
        return cls(
            store=environ.get("STRANGLER_CONTROL_STORE", cls.store).strip(),
            prefix=environ.get("CACHE_KEY_PREFIX", "").strip() or cls.prefix,
            ttl=float(environ.get("STRANGLER_CONTROL_TTL") or cls.ttl),
            wait=float(environ.get("STRANGLER_CONTROL_WAIT") or cls.wait),
        )

    def __post_init__(self) -> None:
        if self.store and not self.store.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"STRANGLER_CONTROL_STORE: expected empty (files) or a redis:// URL, "
                f"got {self.store!r}"
            )


def control_settings(environ: Mapping[str, str] | None = None) -> ControlSettings:
    return ControlSettings.from_env(environ)


def redis_prefix(environ: Mapping[str, str] | None = None) -> str:
    """The deployment's Redis key prefix (no trailing colon)."""
    return control_settings(environ).prefix


@functools.cache
def _redis_store(url: str, prefix: str, ttl: float, wait: float):
    from servicekit.web.control_store.redis_store import RedisStore

    return RedisStore(url, prefix=prefix, ttl=ttl, wait=wait)


@functools.cache
def _file_document(name: str, path: str) -> FileDocument:
    return FileDocument(name, Path(path))


def control_document(
    name: str, path: str | os.PathLike[str], *, settings: ControlSettings | None = None
) -> Document:
    """The document `name` (`routes`, `ownership`): the file at `path`, or, with a shared store,
    the deployment's copy (seeded from `path` the first time it is read)."""
    settings = settings or control_settings()
    if not settings.store:
        return _file_document(name, os.fspath(path))
    store = _redis_store(settings.store, settings.prefix, settings.ttl, settings.wait)
    return store.document(name, Path(path))


def leader_lease(name: str, *, settings: ControlSettings | None = None):
    """A lease in the shared store, or None with files (the evaluator's flock elects instead)."""
    settings = settings or control_settings()
    if not settings.store:
        return None
    return _redis_store(settings.store, settings.prefix, settings.ttl, settings.wait).lease(name)
