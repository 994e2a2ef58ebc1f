"""The one way to write a file that others read live: atomic replace, and a locked update."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def file_version(path: str | os.PathLike[str]) -> tuple[int, int, int] | None:
    """What changes whenever `path` is rewritten (None while it does not exist): every writer
    replaces the file (`atomic_write`, a new inode), so two writes within one mtime tick differ."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return (found.st_ino, found.st_mtime_ns, found.st_size)


def lock_path_for(path: Path) -> Path:
    """The lock file that guards `path` (beside it, so every writer on the host finds it)."""
    return path.with_name(f".{path.name}.lock")


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path`'s lock file (an flock: released if we die)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path_for(target), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def atomic_write(path: str | os.PathLike[str], data: str | bytes, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` at once: readers see the old or the new file, never half.

    The temporary file is unique (several writers never share one), lives in the same folder
    (so the rename stays on one filesystem), is flushed to disk before the rename, and has its
    final permissions before it becomes visible.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append_line(path: str | os.PathLike[str], line: str, *, mode: int = 0o644) -> None:
    """Append one line (a newline is added) to `path`, created with `mode`; an existing file is
    given `mode` too, so a file once written wider is narrowed on the next append."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, (line + "\n").encode("utf-8"))
    finally:
        os.close(fd)


def locked_update(
    path: str | os.PathLike[str],
    change: Callable[[str | None], tuple[str, T]],
    *,
    mode: int = 0o644,
) -> T:
    """Read-modify-write `path` under its lock, so no writer's change is lost to another's.

    `change` gets the current text (None when the file is missing) and returns the new text
    and a result handed back to the caller. Raise inside `change` to leave the file as it was.
    """
    target = Path(path)
    with file_lock(target):
        try:
            current: str | None = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        text, result = change(current)
        atomic_write(target, text, mode=mode)
        return result
