"""servicekit.web.files: atomic replace and locked read-modify-write."""

from __future__ import annotations

import multiprocessing
import os
import stat

import pytest

from servicekit.web.files import append_line, atomic_write, locked_update


def _append_line(path: str, line: str) -> None:
    locked_update(path, lambda text: ((text or "") + line + "\n", None))


def test_atomic_write_sets_mode_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "secret.yaml"
    atomic_write(target, "a: 1\n", mode=0o600)
    assert target.read_text() == "a: 1\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_locked_update_loses_no_change_across_processes(tmp_path):
    target = str(tmp_path / "table.txt")
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=lambda n=n: [_append_line(target, f"{n}-{i}") for i in range(25)])
        for n in range(6)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    with open(target) as handle:
        lines = handle.read().splitlines()
    assert sorted(lines) == sorted(f"{n}-{i}" for n in range(6) for i in range(25))


def test_a_change_that_raises_leaves_the_file_alone(tmp_path):
    target = tmp_path / "t.txt"
    atomic_write(target, "before")

    def refuse(_text):
        raise ValueError("no")

    with pytest.raises(ValueError):
        locked_update(target, refuse)
    assert target.read_text() == "before"


def test_append_line_creates_and_narrows_to_the_mode(tmp_path):
    target = tmp_path / "private.jsonl"
    target.write_text("old\n")
    os.chmod(target, 0o644)
    append_line(target, "new", mode=0o600)
    assert target.read_text() == "old\nnew\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
