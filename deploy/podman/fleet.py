"""Bring the compose fleet up with podman-compose in stages, wait for it, tear it down.

podman-compose awaits neither `service_healthy` nor `service_completed_successfully` (health
checks need systemd timers, absent here), so the start order is done here: the backing servers
until they answer, every `manage migrate` one-shot to a zero exit, the seed, then every Procfile
process, until each HTTP one answers its ready path on its published port.

With `mtls` the fleet runs as `STRANGLER_MTLS=on docker compose up` runs it (docs/mtls.md):
every app container's switch on, so every service but the proxy's public port serves HTTPS
requiring a client certificate from the `certificates` one-shot's CA; this side then reads the
CA and a certificate from that volume to ask the services directly.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import urllib3
import yaml

from deploy.podman import compose as compose_file
from deploy.podman import engine
from servicekit.web.ports import PORTS, path_of
from servicekit.web.tls import client_context, https_url

# How each backing server says it is ready, asked inside its container.
READY_COMMANDS = {
    "postgres": ["pg_isready", "-h", "127.0.0.1", "-U", "postgres"],
    "rabbitmq": ["rabbitmq-diagnostics", "-q", "check_port_connectivity"],
    "redis": ["redis-cli", "ping"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, *, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Fleet:
    """A running compose project: its file, its containers, the host URL of each HTTP process."""

    project: str
    file: Path
    compose: dict
    urls: dict[str, str]
    mtls: bool = False
    _pool: urllib3.PoolManager | None = field(default=None, repr=False)

    def tls_dir(self) -> Path:
        """Where the `certificates` one-shot wrote the CA and the certificates: the `tls`
        volume, as the host sees it (podman runs rootful here, and so does this)."""
        out = engine.run(
            ["podman", "volume", "inspect", f"{self.project}_tls", "--format", "{{.Mountpoint}}"],
            capture_output=True,
            text=True,
        ).stdout
        return Path(out.strip())

    def client(self) -> urllib3.PoolManager:
        """A pool that asks the services as they expect: under mTLS presenting the proxy's
        certificate (one the fleet's CA signed) and verifying theirs."""
        if self._pool is None:
            options = {}
            if self.mtls:
                environ = {"STRANGLER_TLS_DIR": str(self.tls_dir())}
                options["ssl_context"] = client_context("proxy", environ=environ)
            self._pool = urllib3.PoolManager(retries=False, **options)
        return self._pool

    def service_url(self, name: str) -> str:
        """The host URL of a service's published port: https under mTLS, but the proxy's."""
        url = self.urls[name]
        return https_url(url) if self.mtls and name != "proxy" else url

    def podman_compose(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        cmd = [engine.podman_compose(), "-p", self.project, "-f", str(self.file), *args]
        return engine.run(cmd, **kwargs)

    def containers(self) -> dict[str, dict]:
        """Compose service -> podman's view of its container (Names, State, ExitCode)."""
        label = f"label=io.podman.compose.project={self.project}"
        out = engine.run(
            ["podman", "ps", "-a", "--filter", label, "--format", "json"],
            capture_output=True,
            text=True,
        ).stdout
        found = {}
        for c in json.loads(out or "[]"):
            service = c.get("Labels", {}).get("com.docker.compose.service")
            if service:
                found[service] = c
        return found

    def container(self, service: str) -> str:
        return self.containers()[service]["Names"][0]

    def exec(self, service: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return engine.run(
            ["podman", "exec", self.container(service), *cmd],
            capture_output=True,
            text=True,
            check=check,
        )

    def logs(self, service: str, tail: int = 40) -> str:
        name = self.containers().get(service, {}).get("Names", [service])[0]
        cmd = ["podman", "logs", "--tail", str(tail), name]
        result = engine.run(cmd, capture_output=True, text=True, check=False)
        return result.stdout + result.stderr

    def up(self, services: list[str]) -> None:
        # Its stderr is noise when all goes well (health checks it cannot schedule with no
        # systemd): shown only on failure.
        args = ("up", "-d", "--no-deps", *services)
        result = self.podman_compose(*args, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"podman-compose up failed:\n{result.stderr[-3000:]}")

    def run_once(self, services: list[str], *, timeout: float) -> None:
        """Start one-shot containers and require each to exit 0."""
        self.up(services)
        for service in services:
            name = self.container(service)
            engine.log(f"waiting for {service} to finish")
            waited = engine.run(
                ["podman", "wait", name], capture_output=True, text=True, timeout=timeout
            )
            if waited.stdout.strip() != "0":
                raise RuntimeError(
                    f"{service} exited {waited.stdout.strip()}:\n{self.logs(service)}"
                )

    def running(self, service: str) -> bool:
        state = self.containers().get(service, {})
        return state.get("State") == "running"

    def ready(self, name: str) -> bool:
        url = self.service_url(name) + path_of(name, "ready")
        try:
            return self.client().request("GET", url, timeout=3).status == 200
        except urllib3.exceptions.HTTPError:
            return False

    def start(self, *, timeout: float = 600) -> None:
        staged = compose_file.stages(self.compose, engine.APP_IMAGE)
        engine.log(f"starting {', '.join(staged.backing)}")
        self.up(staged.backing)
        for service in staged.backing:
            check = READY_COMMANDS.get(service)
            if check:
                wait_until(
                    lambda s=service, c=check: self.exec(s, *c, check=False).returncode == 0,
                    timeout=timeout,
                    what=f"{service} to accept connections",
                )
        engine.log(f"migrating: {', '.join(staged.migrate)}")
        self.run_once(staged.migrate, timeout=timeout)
        engine.log(f"seeding: {', '.join(staged.seed)}")
        self.run_once(staged.seed, timeout=timeout)
        engine.log(f"starting {len(staged.processes)} processes")
        self.up(staged.processes)
        for name in self.urls:
            wait_until(lambda n=name: self.ready(n), timeout=timeout, what=f"{name} /readyz")
        stopped = [p for p in staged.processes if not self.running(p)]
        if stopped:
            logs = "\n".join(f"--- {p}\n{self.logs(p)}" for p in stopped)
            raise RuntimeError(f"not running: {stopped}\n{logs}")

    def down(self) -> None:
        self.podman_compose("down", "-v", check=False, capture_output=True)


def mtls_on(document: dict) -> dict:
    """`document` as `STRANGLER_MTLS=on` makes compose read it: the switch on in every app
    container that carries it."""
    for service in document["services"].values():
        env = service.get("environment") or {}
        if "STRANGLER_MTLS" in env:
            env["STRANGLER_MTLS"] = "on"
    return document


@contextmanager
def compose_fleet(project: str = "strangler-podman", *, mtls: bool = False) -> Iterator[Fleet]:
    """Build what is missing, start the fleet (with `mtls`, under the mTLS switch), yield it,
    and always tear it down."""
    engine.ensure_installed()
    engine.podman_compose()
    engine.build_images()
    host_ports = {port: free_port() for port in PORTS.values()}
    document = compose_file.local_compose(
        compose_file.load(compose_file.MAIN), compose_file.load(compose_file.LOCAL), host_ports
    )
    if mtls:
        mtls_on(document)
    path = engine.STATE / f"{project}.compose.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    urls = {name: f"http://127.0.0.1:{host_ports[port]}" for name, port in PORTS.items()}
    fleet = Fleet(project=project, file=path, compose=document, urls=urls, mtls=mtls)
    fleet.down()  # a previous run killed before its teardown
    try:
        fleet.start()
        yield fleet
    except BaseException:
        for service, state in fleet.containers().items():
            if state.get("State") != "running" and state.get("ExitCode") != 0:
                engine.log(f"--- {service} ({state.get('State')})\n{fleet.logs(service, tail=20)}")
        raise
    finally:
        engine.log("tearing the fleet down")
        fleet.down()
