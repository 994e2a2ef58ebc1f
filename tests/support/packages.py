"""Servers from Debian's packages for tests: installed when missing, skipped only when they
cannot be had (no such package, no root, apt fails), and never skipped under CI=true when the
package is installable."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _candidate(package: str) -> str | None:
    if shutil.which("apt-cache") is None:
        return None
    out = subprocess.run(
        ["apt-cache", "policy", package], capture_output=True, text=True, check=False
    ).stdout
    for line in out.splitlines():
        if line.strip().startswith("Candidate:"):
            version = line.split(":", 1)[1].strip()
            return None if version == "(none)" else version
    return None


def debian_binary(binary: str, package: str) -> str:
    """The path of `binary`, installing Debian's `package` first when it is missing."""
    found = shutil.which(binary)
    if found:
        return found
    if _candidate(package) is None:
        pytest.skip(f"{binary} is missing and Debian's package {package!r} is not available here")
    refusal = None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        refusal = f"{binary} is missing and installing {package!r} needs root and apt-get"
    else:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        apt = ["apt-get", "install", "-y", "--no-install-recommends", package]
        done = subprocess.run(apt, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
            done = subprocess.run(apt, env=env, capture_output=True, text=True, check=False)
        found = shutil.which(binary)
        if found:
            return found
        refusal = f"apt-get install {package} failed: {done.stderr[-1000:]}"
    if _ci():
        pytest.fail(f"{refusal} (CI=true: the package is installable, so this is a failure)")
    pytest.skip(refusal)
