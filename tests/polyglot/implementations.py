"""How each implementation of the catalog's product reads is built and started (issue 19).

Plain data and subprocesses, shared by the tests (tests/polyglot) and the comparison
(benchmarks/polyglot.py). Every implementation reads the same `CATALOG_READS_*` variables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port, stop_process
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]
POLYGLOT = ROOT / "polyglot"


@dataclass(frozen=True)
class Implementation:
    name: str
    folder: Path
    tools: tuple[str, ...]  # executables the build needs on PATH
    build: tuple[tuple[str, ...], ...]  # commands run in `folder`
    start: tuple[str, ...]  # the command that serves, run in `folder`
    sources: tuple[str, ...]  # globs (under `folder`) counted as the implementation's code
    artefacts: tuple[str, ...]  # paths (under `folder`) that make up what ships
    # The first build command is skipped when this file (under `folder`) is newer than
    # `fresh_after` (dependencies already installed from the lockfile).
    installed: str = ""
    fresh_after: str = ""
    ship: tuple[str, ...] = ()  # run before measuring the artefacts (drops build-only files)

    def missing_tools(self) -> list[str]:
        return [tool for tool in self.tools if shutil.which(tool) is None]

    def build_run(self, *, clean: bool = False) -> float:
        """Build (the dependency install only when stale, or `clean`); returns the seconds."""
        started = time.perf_counter()
        commands = self.build
        marker, lock = self.folder / self.installed, self.folder / self.fresh_after
        fresh = (
            self.installed and marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime
        )
        if fresh and not clean:
            commands = commands[1:]
        for command in commands:
            done = subprocess.run(command, cwd=self.folder, capture_output=True, text=True)
            if done.returncode != 0:
                raise AssertionError(
                    f"{self.name}: {' '.join(command)} exited {done.returncode}\n"
                    f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
                )
        return time.perf_counter() - started


TYPESCRIPT = Implementation(
    name="typescript",
    folder=POLYGLOT / "typescript",
    tools=("node", "npm"),
    build=(
        ("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"),
        ("npx", "--no-install", "tsc", "-p", "."),
    ),
    start=("node", "dist/main.js"),
    sources=("src/*.ts",),
    artefacts=("dist", "node_modules", "package.json"),
    installed="node_modules/.package-lock.json",
    fresh_after="package-lock.json",
    ship=("npm", "prune", "--omit=dev", "--silent"),
)

IMPLEMENTATIONS: dict[str, Implementation] = {impl.name: impl for impl in (TYPESCRIPT,)}


class ReadService:
    """One implementation serving on a free port, on its own database and queue."""

    def __init__(
        self, impl: Implementation, *, database_url: str, broker_url: str, jwks_url: str, log: Path
    ):
        self.impl = impl
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {
            **os.environ,
            "CATALOG_READS_PORT": str(self.port),
            "CATALOG_READS_HOST": "127.0.0.1",
            "CATALOG_READS_DATABASE_URL": database_url.replace("postgres://", "postgresql://", 1),
            "CATALOG_READS_BROKER_URL": broker_url,
            "CATALOG_READS_QUEUE": f"catalog.reads.{impl.name}",
            "CATALOG_READS_JWKS_URL": jwks_url,
        }
        self.process: subprocess.Popen | None = None
        self.ready_seconds = 0.0

    def __enter__(self) -> ReadService:
        import urllib3

        http = urllib3.PoolManager()
        self._log = open(self.log, "wb")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            list(self.impl.start),
            cwd=self.impl.folder,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.impl.name} exited: {self.log.read_text()[-2000:]}")
            return (
                http.request("GET", f"{self.url}/readyz", timeout=1.0, retries=False).status == 200
            )

        try:
            wait_for(
                ready,
                timeout=30,
                interval=0.02,
                what=f"{self.impl.name} to be ready",
                ignore=(urllib3.exceptions.HTTPError,),
            )
        except BaseException:
            self.__exit__()
            raise
        self.ready_seconds = time.perf_counter() - started
        return self

    def rss_kib(self) -> int:
        """Resident memory of the serving process, from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            stop_process(self.process)
        self._log.close()
