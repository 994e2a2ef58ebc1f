"""A real ZooKeeper for tests: Debian's package (installed when missing), on a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import free_port, stop_process
from tests.support.wait import wait_for

JAR = Path("/usr/share/java/zookeeper.jar")


def ensure_installed() -> None:
    if JAR.exists() and shutil.which("java"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "zookeeper"], check=True, env=env)


def _ruok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"ruok")
            return sock.recv(16) == b"imok"
    except OSError:
        return False


@contextmanager
def zookeeper_server() -> Iterator[str]:
    """Yields `127.0.0.1:PORT`; the server and its data folder are gone afterwards."""
    ensure_installed()
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="strangler-zk-"))
    log = open(folder / "zk.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            "java",
            "-Xmx256m",
            "-Dzookeeper.admin.enableServer=false",  # else it takes port 8080
            "-Dzookeeper.4lw.commands.whitelist=ruok",
            "-cp",
            f"/etc/zookeeper/conf:{JAR}",
            "org.apache.zookeeper.server.ZooKeeperServerMain",
            str(port),
            str(folder / "data"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError("ZooKeeper exited: " + (folder / "zk.log").read_text()[-2000:])
        return _ruok(port)

    try:
        wait_for(answers, timeout=60, what=f"ZooKeeper on port {port} to answer ruok")
        yield f"127.0.0.1:{port}"
    finally:
        stop_process(process)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
