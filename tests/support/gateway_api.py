"""Gateway API documents checked against the Gateway API's own JSON schemas (the npm package
@kubernetes-models/gateway-api, pinned in deploy/gateway-api/, installed once per lock into a
cache folder with `npm ci`); CEL rules of the CRDs are not checked."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PINNED = ROOT / "deploy" / "gateway-api"


def _cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    lock = (PINNED / "package-lock.json").read_bytes()
    return base / "strangler" / f"gateway-api-{hashlib.sha256(lock).hexdigest()[:12]}"


def _installed() -> Path:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("node and npm are needed to check Gateway API documents")
        pytest.skip("node and npm are needed to check Gateway API documents")
    folder = _cache()
    if not (folder / "node_modules" / "@kubernetes-models" / "gateway-api").is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(PINNED / name, folder / name)
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=folder, capture_output=True, text=True
        )
        assert done.returncode == 0, f"npm ci failed: {done.stderr[-2000:]}"
    return folder


def problems(documents: list[dict]) -> list[str]:
    """`Kind/name: message` for each document its schema refuses (none: all valid)."""
    folder = _installed()
    lines = "".join(json.dumps(doc) + "\n" for doc in documents)
    env = {**os.environ, "NODE_PATH": str(folder / "node_modules")}
    done = subprocess.run(
        ["node", str(PINNED / "validate.js")], input=lines, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(results) == len(documents), done.stdout
    return [f"{r['name']}: {e}" for r in results for e in r["errors"]]
