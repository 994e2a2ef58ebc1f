"""Start the proxy under its real server on a free port: uvicorn (the default, as deployed),
granian or gunicorn (`server="gunicorn"`, or STRANGLER_TEST_SERVER=gunicorn for every test)."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.processes import free_port, stop_process
from tests.support.wait import wait_http

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


SERVERS = ("granian", "gunicorn", "uvicorn")


def default_server() -> str:
    return os.environ.get("STRANGLER_TEST_SERVER") or "uvicorn"


def start_serve(port: int, data_dir: Path, stdout: Any, **env: str) -> subprocess.Popen:
    """`python -m strangler_proxy.serve` on `port`, in a session of its own, its output (stderr
    too) to `stdout`; `env` on top of this process's environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "strangler_proxy.serve", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env={
            **os.environ,
            "STRANGLER_DATA_DIR": str(data_dir),
            "DJANGO_SETTINGS_MODULE": "strangler_proxy.settings",
            "PROMETHEUS_MULTIPROC_DIR": str(data_dir / "prom"),
            **env,
        },
        stdout=stdout,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


class ProxyProcess:
    """`with ProxyProcess(routes_file, env=...) as proxy:` strangler_proxy under `server`."""

    def __init__(
        self,
        routes_file: Path,
        *,
        data_dir: Path,
        env: dict[str, str] | None = None,
        workers: int = 2,
        name: str = "proxy",
        server: str | None = None,
    ):
        self.server = server or default_server()
        if self.server not in SERVERS:
            raise ValueError(f"server must be one of {SERVERS}, not {self.server!r}")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.routes_file = routes_file
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "strangler_proxy.settings",
            "DJANGO_ENV": "test",
            "STRANGLER_DATA_DIR": str(data_dir),
            "STRANGLER_ROUTES_FILE": str(routes_file),
            "STRANGLER_ROUTES_CHECK_INTERVAL": "0.2",
            "STRANGLER_PROXY_WORKERS": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": str(data_dir / "prom"),
            "LOG_JSON": "false",
            # the control centre's sampler reads every upstream's /metrics: off, so a fake
            # upstream sees only what a test sends (a test of the plots turns it on)
            "STRANGLER_CONTROL_SERIES_STEP": "0",
            **(env or {}),
        }
        if self.server != "gunicorn":  # (never the one a developer's shell may have exported)
            self.env["STRANGLER_PROXY_SERVER"] = self.server
        self.log = data_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> ProxyProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "strangler_proxy.serve", "--bind", f"127.0.0.1:{self.port}"]
            if self.server in ("granian", "uvicorn")
            else [
                str(BIN / "gunicorn"),
                "-c",
                str(ROOT / "strangler_proxy" / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{self.port}",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_http(f"{self.url}/_strangler/healthz", process=self.process)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            stop_process(self.process)
        self._log.close()

    def get(self, target: str) -> int:
        """The status of a GET of `target` on a connection of its own."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", target)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")
