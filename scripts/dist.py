"""`make dist`: build the installable wheels (packages/*/pyproject.toml) into dist/.

Each distribution under packages/ takes its sources from the repository (hatchling's
force-include), so the wheels hold exactly the code the demo shop runs. Built without build
isolation, with the hatchling the dev install has (no index needed). Prints each wheel's path.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"
DIST = ROOT / "dist"


def projects() -> list[Path]:
    return sorted(p.parent for p in PACKAGES.glob("*/pyproject.toml"))


def dist_build(target: Path = DIST) -> list[Path]:
    """(Re)build every distribution's wheel into `target`; returns the wheels' paths."""
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.whl"):
        old.unlink()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(target),
            *map(str, projects()),
        ],
        check=True,
        cwd=ROOT,
    )
    return sorted(target.glob("*.whl"))


if __name__ == "__main__":
    for wheel in dist_build(Path(sys.argv[1]) if len(sys.argv) > 1 else DIST):
        print(wheel.relative_to(ROOT) if wheel.is_relative_to(ROOT) else wheel)
