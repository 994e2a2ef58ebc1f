"""benchmarks/bench_proxy_hotpath.py compares two checkouts by running a driver process in each:
each driver must import the proxy of the checkout it runs in. From 2026-12-05 to 12-06 the
module imported bench_proxy at its top, which puts this checkout first on sys.path, so the base
commit's driver measured this checkout's code and every comparison read 1.00x."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_a_driver_imports_the_proxy_of_the_checkout_it_runs_in(tmp_path):
    package = tmp_path / "strangler_proxy"
    package.mkdir()
    (package / "__init__.py").write_text("")
    code = (
        f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r}); import bench_proxy_hotpath; "
        "import strangler_proxy; print(strangler_proxy.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).resolve() == (package / "__init__.py").resolve()
