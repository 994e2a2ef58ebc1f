"""A real nginx (Debian's package, installed by tests/support/packages.py) serving the
configuration `python -m strangler_proxy export nginx` writes, for the nginx-plane tests."""

from __future__ import annotations

import json
import os
import re
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

    def access_log(self) -> list[dict]:
        """The JSON lines of access.log (export/nginx.py's `strangler_json`), oldest first."""
        path = self.folder / "access.log"
        text = path.read_text() if path.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def client_disconnects(self) -> int:
        """Requests whose client went away before the whole answer was sent (nginx: 499, or
        a request that did not complete), as the Python proxy counts them."""
        return sum(1 for e in self.access_log() if e["status"] == 499 or e["completion"] != "OK")

    def upstream_errors(self) -> int:
        """Errors nginx logged on its side of an upstream (refused, timed out, cut short)."""
        failed = re.compile(r"\[(error|crit)\].*(from|to|reading|connecting to) upstream")
        return sum(1 for line in self.error_log().splitlines() if failed.search(line))
