"""The proxy routes a handover governs, read and flipped through the proxy's own CLI.

The plumbing imports no deployable, the proxy included, so a takeover changes the route table the
way an operator does: `python -m strangler_proxy routes show|set ...`, in a child process, which
writes through the proxy's one locked writer of the routes file (`$STRANGLER_ROUTES_FILE`, else
`<data folder>/routes.yaml`, or the `--file` given here). Every proxy worker picks the change up
within its reload interval (a second). With a shared control store (`$STRANGLER_CONTROL_STORE`,
inherited by the child) it writes the deployment's copy, and returns once every live proxy
replica applied it (exit 3 naming the laggards otherwise).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from servicekit.web.control_store.settings import control_settings

# The folder holding `servicekit/` and `strangler_proxy/`, for the child's import path.
_ROOT = Path(__file__).resolve().parents[2]


class RouteError(RuntimeError):
    """The proxy's CLI refused (no such route, an invalid change) or could not run."""


class ProxyRoutes:
    """`show(name)` and `set_mode(name, mode)` on the live routes file, through the proxy's CLI."""

    def __init__(self, *, routes_file: str = "", python: str = sys.executable, timeout: float = 30):
        self.routes_file = routes_file
        self.python = python
        self.timeout = timeout

    @property
    def confirms_applied(self) -> bool:
        """The child writes the shared control store and waits for every replica (exit 3 if
        one lags); with the routes file, workers reload within their interval instead."""
        return bool(control_settings().store)

    def _run(self, *args: str) -> str:
        command = [self.python, "-m", "strangler_proxy", "routes", *args]
        if self.routes_file:
            command += ["--file", self.routes_file]
        env = {**os.environ}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=self.timeout, env=env, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RouteError(f"{' '.join(args)}: {exc}") from exc
        if done.returncode != 0:
            said = (done.stdout + done.stderr).strip().splitlines()
            raise RouteError(f"{' '.join(args)}: {said[-1] if said else done.returncode}")
        return done.stdout

    def show(self, name: str) -> dict[str, Any]:
        route = yaml.safe_load(self._run("show", name))
        if not isinstance(route, dict):
            raise RouteError(f"show {name}: unexpected answer {route!r}")
        return route

    def set_mode(self, name: str, mode: str) -> None:
        self._run("set", name, "--mode", mode)
