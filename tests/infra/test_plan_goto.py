"""`python scripts/plan.py goto NN` puts routes and owners where chapter NN starts, from any
state, and `status` then names that chapter's first step; bad chapter numbers are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# Chapter -> the plan step `status` names next once `goto` set the chapter's start.
POSITIONS = {
    1: "catalog-reads",  # chapters 01-03 move nothing
    4: "catalog-reads",
    5: "catalog-writes",
    6: "notifications",
    7: "orders",
    8: "identity",
    9: "complete",  # chapter 09 measures, and moves nothing
    10: "complete",
}


def plan(data: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("STRANGLER_ROUTES_FILE", "OWNERSHIP_FILE", "DJANGO_SETTINGS_MODULE")
    }
    env["STRANGLER_DATA_DIR"] = str(data)
    return subprocess.run(
        [sys.executable, "scripts/plan.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


def routes_of(data: Path) -> dict[str, dict]:
    return {r["name"]: r for r in yaml.safe_load((data / "routes.yaml").read_text())["routes"]}


def test_goto_sets_each_chapters_start_from_the_state_the_last_goto_left(tmp_path):
    # given: a fleet whose walk is over (every route and owner moved)
    assert plan(tmp_path, "goto", "10").returncode == 0
    assert plan(tmp_path, "status").stdout.splitlines()[-1] == "position: complete"
    # when / then: back one chapter at a time, then forward again
    for chapter in [9, 8, 7, 6, 5, 4, 1, 7]:
        done = plan(tmp_path, "goto", f"{chapter:02d}")
        assert done.returncode == 0, done.stderr
        position = plan(tmp_path, "status").stdout.splitlines()[-1]
        assert position == f"position: {POSITIONS[chapter]}", f"goto {chapter:02d}"


def test_goto_01_is_the_packaged_route_table_and_the_monolith_owning_everything(tmp_path):
    plan(tmp_path, "goto", "10")
    assert routes_of(tmp_path)["api"]["upstream"] == "users"

    plan(tmp_path, "goto", "01")

    template = {
        r["name"]: r
        for r in yaml.safe_load((ROOT / "strangler_proxy" / "routes.yaml").read_text())["routes"]
    }
    assert routes_of(tmp_path) == template
    owners = yaml.safe_load((tmp_path / "ownership.yaml").read_text())
    assert set(owners.values()) == {"monolith"}


def test_goto_08_leaves_identity_to_do_and_what_came_before_done(tmp_path):
    plan(tmp_path, "goto", "08")
    routes = routes_of(tmp_path)
    owners = yaml.safe_load((tmp_path / "ownership.yaml").read_text())
    assert owners == {
        "product": "catalog",
        "inventory": "catalog",
        "notification": "notifications",
        "order": "orders",
        "user": "monolith",
    }
    assert routes["orders"]["mode"] == "extracted"
    assert routes["users"]["mode"] == routes["api"]["mode"] == "monolith"


@pytest.mark.parametrize("argument", ["00", "11", "x"])
def test_goto_refuses_what_is_not_a_chapter(tmp_path, argument):
    done = plan(tmp_path, "goto", argument)
    assert done.returncode == 2
    assert "goto: a chapter number, 01 to 09 (10: the end)" in done.stderr
    assert not (tmp_path / "ownership.yaml").exists()


def test_plan_without_a_known_command_says_how_to_use_it(tmp_path):
    done = plan(tmp_path, "walk")
    assert done.returncode == 2
    assert done.stderr.startswith("usage: python scripts/plan.py status | goto NN | env")


# Runs `scripts/plan.py ARGS` as the shell does, then says which modules it had imported.
_PROBE = """
import json, runpy, sys
sys.argv = ["scripts/plan.py", *sys.argv[1:]]
try:
    runpy.run_path("scripts/plan.py", run_name="__main__")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["status"], ["goto", "05"]], ids=["status", "goto"])
def test_plan_starts_without_drf(tmp_path, args):
    """The walk runs plan.py ~30 times a pass; DRF (via the problem+json module) was 0.7 s of
    each start. The ownership registry raises service errors, which import no HTTP."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["STRANGLER_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    modules = set(json.loads(done.stderr.strip().splitlines()[-1]))
    assert "servicekit.migration.ownership" in modules, done.stdout
    assert "rest_framework" not in modules
