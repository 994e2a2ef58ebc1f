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
    clean_command: tuple[str, ...] = ()  # run first by a clean build (drops build caches)
    # Debian packages of the toolchain and libraries, installed when missing (toolchain_install).
    packages: tuple[str, ...] = ()

    def missing_tools(self) -> list[str]:
        return [tool for tool in self.tools if shutil.which(tool) is None]

    def missing_packages(self) -> list[str]:
        return [name for name in self.packages if not _debian_installed(name)]

    def toolchain_install(self) -> list[str]:
        """The missing Debian packages installed with apt-get (as root); returns their names."""
        missing = self.missing_packages()
        if missing:
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            apt = ("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing)
            if subprocess.run(apt, env=env, capture_output=True).returncode != 0:
                subprocess.run(("apt-get", "update", "-qq"), env=env, check=True)
                subprocess.run(apt, env=env, check=True)
        return missing

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
        if clean:
            commands = ((self.clean_command,) if self.clean_command else ()) + commands
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

# Go from Debian's packages (no module proxy here): GOPATH mode over /usr/share/gocode, offline;
# the build cache in the folder, so a clean build (the benchmark's) starts from nothing.
GO_ENV = (
    "env",
    "GO111MODULE=off",
    "GOPATH=/usr/share/gocode",
    "GOPROXY=off",
    "GOFLAGS=",
    f"GOCACHE={POLYGLOT / 'go' / '.gocache'}",
)
GO = Implementation(
    name="go",
    folder=POLYGLOT / "go",
    tools=("go",),
    build=((*GO_ENV, "go", "build", "-trimpath", "-o", "bin/catalog-reads", "./src"),),
    start=("bin/catalog-reads",),
    sources=("src/*.go",),
    artefacts=("bin/catalog-reads",),
    clean_command=("rm", "-rf", ".gocache", "bin"),
    packages=(
        "golang-go",
        "golang-github-lib-pq-dev",
        "golang-github-rabbitmq-amqp091-go-dev",
        "golang-github-prometheus-client-golang-dev",
    ),
)

# Java 17 with Debian's library jars (no Maven Central here): javac and jar from build.sh, the
# jars copied beside the application's (its manifest's Class-Path), so `java -jar` runs it.
JAVA = Implementation(
    name="java",
    folder=POLYGLOT / "java",
    tools=("java", "javac", "jar"),
    build=(("sh", "build.sh"),),
    # The serial collector: one service on a small machine (the default G1 wants more memory).
    start=("java", "-XX:+UseSerialGC", "-jar", "build/catalog-reads.jar"),
    sources=("src/**/*.java",),
    artefacts=("build/catalog-reads.jar", "build/lib"),
    clean_command=("rm", "-rf", "build"),
    packages=(
        "openjdk-17-jdk-headless",
        "libpostgresql-jdbc-java",
        "librabbitmq-client-java",
        "libjackson2-databind-java",
        "libslf4j-java",
    ),
)

# Kotlin: Debian's kotlinc 1.3.31 (2019; JVM bytecode 1.8, run on JDK 17) over the Java one's jars,
# Kotlin's standard library among them; built and started the same way.
KOTLIN = Implementation(
    name="kotlin",
    folder=POLYGLOT / "kotlin",
    tools=("kotlinc", "java", "jar"),
    build=(("sh", "build.sh"),),
    start=JAVA.start,
    sources=("src/**/*.kt",),
    artefacts=JAVA.artefacts,
    clean_command=JAVA.clean_command,
    packages=("kotlin", *JAVA.packages),
)

IMPLEMENTATIONS: dict[str, Implementation] = {
    impl.name: impl for impl in (TYPESCRIPT, GO, JAVA, KOTLIN)
}


def _debian_installed(package: str) -> bool:
    done = subprocess.run(
        ("dpkg-query", "-W", "-f=${Status}", package), capture_output=True, text=True
    )
    return done.returncode == 0 and done.stdout.endswith(" installed")


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
