"""What a control document is, and the file backend (one host, the embedded default)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from servicekit.web.files import file_version, locked_update

T = TypeVar("T")
Apply = Callable[["Versioned"], None]


@dataclass(frozen=True)
class Versioned:
    """A document's text (None: it does not exist yet) and its version. Redis versions count up
    from 1 with every write; a file's is a stamp of the file, compared only for equality."""

    text: str | None
    version: int


@dataclass(frozen=True)
class Applied:
    """Who applied `version` of a document: `acked` are the live replicas that report it; `gone`
    were live when the wait began and whose heartbeat expired meanwhile (dead, not waited for).
    With files (`shared` false) nobody reports: every worker re-reads the file by itself."""

    document: str
    version: int
    acked: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()
    shared: bool = False

    def summary(self) -> str:
        if not self.shared:
            return "workers reload within a second"
        text = f"{self.document} version {self.version} applied by {len(self.acked)} replica(s)"
        if self.gone:
            text += f"; heartbeat expired (not waited for): {', '.join(self.gone)}"
        return text


class ReplicasLagging(RuntimeError):
    """The write landed, but live replicas did not report the new version within the wait."""

    def __init__(self, document: str, version: int, laggards: dict[str, int], timeout: float):
        self.document = document
        self.version = version
        self.laggards = laggards
        names = ", ".join(f"{name} (at {v})" for name, v in sorted(laggards.items()))
        super().__init__(
            f"{document} version {version} is written, but these replicas did not apply it "
            f"within {timeout:g}s: {names}"
        )


class Document(Protocol):
    name: str

    def read(self) -> Versioned:
        """The latest version this process follows (cheap: call it per request)."""

    def fetch(self) -> Versioned:
        """The version in the store now (for writers and one-off readers)."""

    def update(self, change: Callable[[str | None], tuple[str, T]]) -> tuple[T, int]:
        """Read-modify-write that never loses another writer's update; `change` gets the current
        text and returns the new text and a result; raising inside it writes nothing."""

    def follow(self, apply: Apply) -> None:
        """Make this process a replica: `apply` gets every new version; once it returns, the
        version is reported as applied (raising keeps the old one and reports nothing new)."""

    def wait_applied(self, version: int, *, timeout: float | None = None) -> Applied:
        """Return once every live replica reports `version`; raise ReplicasLagging after
        `timeout`."""


def replica_id() -> str:
    """This process as a replica: host (the pod's name in Kubernetes) and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class FileDocument:
    """A document that is a file: the locked writer of servicekit.web.files, and a stat per read
    (one host: every process sees the file within its check interval, nobody to wait for)."""

    name: str
    path: Path
    _cache: tuple[tuple[int, int, int], Versioned] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def read(self) -> Versioned:
        stamp = file_version(self.path)
        if stamp is None:
            return Versioned(None, 0)
        with self._lock:
            if self._cache is not None and self._cache[0] == stamp:
                return self._cache[1]
            try:
                text = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                return Versioned(None, 0)
            current = Versioned(text, hash(stamp))
            self._cache = (stamp, current)
            return current

    def fetch(self) -> Versioned:
        return self.read()

    def update(self, change: Callable[[str | None], tuple[str, T]]) -> tuple[T, int]:
        result = locked_update(self.path, change)
        stamp = file_version(self.path)
        return result, hash(stamp) if stamp else 0

    def follow(self, apply: Apply) -> None:
        """Nothing to start: readers stat the file."""

    def wait_applied(self, version: int, *, timeout: float | None = None) -> Applied:
        return Applied(self.name, version)
