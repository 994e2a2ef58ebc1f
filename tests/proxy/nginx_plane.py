"""A real nginx (Debian's package, installed by tests/support/packages.py) serving the
configuration `python -m strangler_proxy export nginx` writes, for the nginx-plane tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from strangler_proxy.export.nginx import NginxOptions, render
from strangler_proxy.routes.load import load_table
from tests.support.packages import debian_binary
from tests.support.processes import free_port, stop_process
from tests.support.wait import wait_port


def nginx_binary() -> str:
    return debian_binary("nginx", "nginx-light")


def nginx_test(binary: str, folder: Path, conf: Path) -> subprocess.CompletedProcess:
    """`nginx -t` on `conf` (returncode 0 when nginx accepts it)."""
    return subprocess.run(
        [binary, "-t", "-p", str(folder), "-c", str(conf)],
        capture_output=True,
        text=True,
        check=False,
    )


class NginxPlane:
    """nginx in front of the table in `routes` (a file), on a free port, in `folder`."""

    def __init__(self, routes: Path, folder: Path, **options):
        self.binary = nginx_binary()
        self.routes = routes
        self.folder = folder
        self.port = free_port()
        self.conf = folder / "nginx.conf"
        self.options = NginxOptions(listen=f"127.0.0.1:{self.port}", **options)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, *extra: str) -> list[str]:
        return [self.binary, "-p", str(self.folder), "-c", str(self.conf), *extra]

    def write(self) -> None:
        self.conf.write_text(render(load_table(self.routes), self.options))

    def __enter__(self) -> NginxPlane:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.write()
        checked = nginx_test(self.binary, self.folder, self.conf)
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(
            # as root, workers keep root: pytest's folders are closed to `nobody`
            self.command("-g", "daemon off;" + (" user root;" if os.geteuid() == 0 else "")),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_port("127.0.0.1", self.port, timeout=30)
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            stop_process(self.process)

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text() if path.exists() else ""
