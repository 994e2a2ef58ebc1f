"""The control store's file backend and its one setting (the Redis backend: tests/proxy)."""

from __future__ import annotations

import pytest

from servicekit.web.control_store import Applied, ControlSettings, control_document
from servicekit.web.control_store.base import FileDocument


def test_the_files_are_the_default_and_a_typo_in_the_store_is_refused():
    assert ControlSettings.from_env({}) == ControlSettings()
    assert ControlSettings.from_env({}).store == ""
    assert ControlSettings.from_env({"CACHE_KEY_PREFIX": "fleet-b"}).prefix == "fleet-b"
    with pytest.raises(ValueError, match="STRANGLER_CONTROL_STORE"):
        ControlSettings.from_env({"STRANGLER_CONTROL_STORE": "redis:/127.0.0.1:6379"})


def test_a_file_document_versions_each_write_and_waits_for_nobody(tmp_path):
    path = tmp_path / "doc.yaml"
    document = control_document("doc", path, settings=ControlSettings())
    assert isinstance(document, FileDocument)
    assert document.read().text is None

    result, first = document.update(lambda text: ("a: 1\n", (text or "") + "seen"))
    second = document.update(lambda text: (text + "b: 2\n", None))[1]

    assert result == "seen"
    assert first != second
    assert document.read().text == "a: 1\nb: 2\n" == path.read_text()
    assert document.read().version == second
    assert document.wait_applied(second) == Applied("doc", second)


def test_a_refused_change_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "doc.yaml"
    path.write_text("a: 1\n")
    document = control_document("doc", path, settings=ControlSettings())
    before = document.read()

    def refuse(_text):
        raise ValueError("no")

    with pytest.raises(ValueError):
        document.update(refuse)
    assert document.read() == before


def test_a_flip_summary_names_the_replicas_that_went_away():
    assert Applied("routes", 7).summary() == "workers reload within a second"  # the files
    applied = Applied("routes", 7, acked=("a:1", "b:2"), gone=("c:3",), shared=True)
    assert applied.summary() == (
        "routes version 7 applied by 2 replica(s); heartbeat expired (not waited for): c:3"
    )
