"""The route CLI starts light: a takeover runs `python -m strangler_proxy routes show|set` once per
route, the `set`s inside its freeze window (servicekit/migration/proxy_routes.py), where every
second of start-up is a second the entity's writes wait. So `routes` commands import neither the
proxy's composition root (strangler_proxy.runtime: the request path, metrics, shadow stores) nor
the exporters (nginx, Gateway API) nor DRF; the commands that need them import them themselves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "strangler_proxy.runtime",
    "strangler_proxy.export.nginx",
    "strangler_proxy.export.gateway",
    "strangler_proxy.upstream.forward",
    "rest_framework",
)
# Runs the CLI as `python -m strangler_proxy` does, then says which modules it had imported.
PROBE = """
import json, runpy, sys
sys.argv = ["strangler_proxy", *sys.argv[1:]]
try:
    runpy.run_module("strangler_proxy", run_name="__main__")
except SystemExit as done:
    code = done.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _run(tmp_path: Path, *args: str) -> tuple[int, set[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        env={**os.environ, "STRANGLER_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"]), done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["routes", "show", "catalog-products-read"],
        ["routes", "set", "catalog-products-read", "--mode", "shadow"],
        ["routes", "list"],
    ],
    ids=["show", "set", "list"],
)
def test_route_commands_start_without_the_request_path_or_the_exporters(tmp_path, args):
    code, modules, out = _run(tmp_path, *args)
    assert code == 0, out
    assert [m for m in HEAVY if m in modules] == []


def test_the_commands_that_need_them_still_import_them(tmp_path):
    # the control: the same probe does see an exporter when the command uses it
    code, modules, out = _run(tmp_path, "export", "nginx")
    assert code == 0
    assert "strangler_proxy.export.nginx" in modules
    assert "proxy_pass" in out
