"""The proxy's granian workers run uvloop by default (`STRANGLER_PROXY_LOOP`, PERFORMANCE in
strangler_proxy/README.md): the hand-off of each request to a pool thread and back wakes the loop
from another thread, which asyncio's own loop does at about 1.4x uvloop's CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import free_port, stop_process
from tests.support.wait import wait_http

ROOT = Path(__file__).resolve().parents[2]


def _serve(tmp_path, loop: str | None) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    env = {
        **os.environ,
        "STRANGLER_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "strangler_proxy.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom"),
    }
    env.pop("STRANGLER_PROXY_LOOP", None)
    if loop is not None:
        env["STRANGLER_PROXY_LOOP"] = loop
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "strangler_proxy.serve", "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, f"http://127.0.0.1:{port}/_strangler/healthz", log


@pytest.mark.parametrize(
    ("setting", "module"), [(None, "uvloop"), ("uvloop", "uvloop"), ("asyncio", "asyncio")]
)
def test_the_workers_build_the_loop_asked_for(monkeypatch, setting, module):
    from granian._loops import loops  # what granian's workers call to build their loop

    from strangler_proxy.serve import event_loop

    if setting is None:
        monkeypatch.delenv("STRANGLER_PROXY_LOOP", raising=False)
    else:
        monkeypatch.setenv("STRANGLER_PROXY_LOOP", setting)
    loop = loops.get(event_loop().value)
    try:
        assert type(loop).__module__.split(".")[0] == module
    finally:
        loop.close()


@pytest.mark.parametrize("setting", ["uvloop", "asyncio"])
def test_the_proxy_serves_on_either_loop(tmp_path, setting):
    process, url, _log = _serve(tmp_path, setting)
    try:
        wait_http(url, timeout=90, process=process)
    finally:
        stop_process(process, group=True)


def test_an_unknown_loop_is_refused_at_start_with_its_name(tmp_path):
    process, _url, log = _serve(tmp_path, "trio")
    try:
        process.wait(timeout=60)
    finally:
        stop_process(process, group=True)
    assert process.returncode != 0
    text = log.read_text(errors="replace")
    assert "STRANGLER_PROXY_LOOP='trio'" in text and "uvloop" in text, text


def test_uvloop_asked_for_but_missing_is_refused_at_start(monkeypatch):
    from strangler_proxy import serve

    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed: import fails
    monkeypatch.setenv("STRANGLER_PROXY_LOOP", "uvloop")
    with pytest.raises(SystemExit, match="uvloop is not installed"):
        serve.event_loop()
