"""Every writer of the live routes file (CLI `routes set`, lifecycle controller) loses nothing.

The CLI and the controller run in separate processes, each changing routes of its own; after
both finish, every change of both must be in the file (a lost update used to drop some).
"""

from __future__ import annotations

import multiprocessing
import textwrap
from pathlib import Path

import pytest
import yaml

ROUTES = 40


def _routes_file(path: Path) -> Path:
    lines = [
        "version: 1",
        "default_upstream: monolith",
        "upstreams:",
        '  monolith: {instances: ["http://127.0.0.1:9"]}',
        '  svc: {instances: ["http://127.0.0.1:9"]}',
        "routes:",
    ]
    for group in ("cli", "ctl"):
        for i in range(ROUTES):
            lines.append(f"  - {{name: {group}-{i}, prefix: /{group}/{i}/, upstream: svc}}")
    path.write_text(textwrap.dedent("\n".join(lines)) + "\n", encoding="utf-8")
    return path


def _cli_writer(path: str, start, failures) -> None:
    from strangler_proxy.cli import main

    start.wait()
    for i in range(ROUTES):
        if main(["--file", path, "routes", "set", f"cli-{i}", "--mode", "shadow"]) != 0:
            failures.put(f"cli-{i}: exit != 0")


def _controller_writer(path: str, data: str, start, failures) -> None:
    from strangler_proxy import lifecycle

    controller = lifecycle.Controller(
        routes_file=path, store=lifecycle.LifecycleStore(Path(data)), read_snapshot=dict
    )
    start.wait()
    for i in range(ROUTES):
        try:
            controller.promote(f"ctl-{i}", by="test")  # monolith -> shadow: no gate to hold
        except Exception as exc:
            failures.put(f"ctl-{i}: {exc}")


def test_cli_and_controller_racing_lose_no_update(tmp_path):
    # given: one routes file, the CLI changing the cli-* routes, the controller the ctl-* routes
    path = _routes_file(tmp_path / "routes.yaml")
    ctx = multiprocessing.get_context("fork")
    start, failures = ctx.Event(), ctx.Queue()
    writers = [
        ctx.Process(target=_cli_writer, args=(str(path), start, failures)),
        ctx.Process(
            target=_controller_writer, args=(str(path), str(tmp_path / "data"), start, failures)
        ),
    ]
    for process in writers:
        process.start()

    # when: both write at once
    start.set()
    for process in writers:
        process.join(timeout=120)

    # then: both finished, and every change of either is in the file
    assert [p.exitcode for p in writers] == [0, 0]
    assert failures.empty(), failures.get()
    modes = {
        r["name"]: r.get("mode", "monolith") for r in yaml.safe_load(path.read_text())["routes"]
    }
    lost = sorted(name for name, mode in modes.items() if mode != "shadow")
    assert lost == [], f"{len(lost)} updates lost: {lost}"


def test_refused_change_leaves_the_file_as_it_was(tmp_path):
    from strangler_proxy.routes.file import RouteChange, route_change, route_update
    from strangler_proxy.routes.model import RouteTableError

    path = _routes_file(tmp_path / "routes.yaml")
    before = path.read_text()

    def refuse(route, table):
        raise RuntimeError("changed meanwhile")

    with pytest.raises(RouteTableError, match="fallback: unknown upstream"):
        route_update(path, "cli-0", {"fallback": "nowhere"})
    with pytest.raises(RouteTableError, match="not settable here: lifecycle"):
        route_update(path, "cli-0", {"lifecycle": {}})
    with pytest.raises(RuntimeError, match="changed meanwhile"):
        route_change(path, RouteChange(route="cli-0", fields={"mode": "shadow"}, plan=refuse))
    with pytest.raises(KeyError):
        route_update(path, "no-such-route", {"mode": "shadow"})

    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".routes.yaml.lock", "routes.yaml"]
