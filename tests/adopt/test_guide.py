"""docs/adopt.md runs as written, on wagtail's starter site (conftest.py), like the tutorial.

Each `$` command runs in bash in the site's folder with the state the previous ones left, the
site's virtual environment first on PATH (`python` is the site's); a command that fails or
prints other than what the guide shows fails the test naming the line. What the guide has the
reader start in other terminals (the proxy, the extracted service, the relay, the consumer) and
the one edit it shows as YAML are done here, just before the step that needs them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adopt.conftest import ROOT, Site, add_candidate, foreign_env
from tests.support.processes import free_port, stop_process
from tests.support.wait import wait_http
from tests.tutorial.chapters import Step, mismatch, run_step, steps_of

# the first test builds the site's virtual environment (pip: minutes on a loaded machine)
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
GUIDE = ROOT / "docs" / "adopt.md"


class Terminals:
    """The processes the guide runs in other terminals, started as it says, stopped at the end."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.running: list[subprocess.Popen] = []
        self.proxy = f"http://127.0.0.1:{free_port()}"

    def start(self, command: list[str], cwd: Path, name: str, **env: str) -> subprocess.Popen:
        log = (cwd / f"{name}.log").open("wb")
        process = subprocess.Popen(
            command, cwd=cwd, env=foreign_env(**env), stdout=log, stderr=subprocess.STDOUT
        )
        self.running.append(process)
        return process

    def env_file(self) -> dict[str, str]:
        lines = (self.site.folder / "strangler" / "proxy.env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))

    def before(self, step: Step) -> None:
        python, folder = str(self.site.python), self.site.folder
        if step.command.startswith("set -a; . strangler/proxy.env"):
            port = self.proxy.rsplit(":", 1)[1]
            proxy = self.start(
                [python, "-m", "strangler_proxy.serve", "--bind", f"127.0.0.1:{port}"],
                folder,
                "proxy",
                **self.env_file(),
                STRANGLER_ROUTES_CHECK_INTERVAL="0.2",
            )
            wait_http(f"{self.proxy}/_strangler/healthz", process=proxy)
        elif step.command.startswith("python -m strangler_proxy lifecycle promote") and not any(
            "pages_service" in " ".join(p.args) for p in self.running
        ):
            url = f"http://127.0.0.1:{free_port()}"
            service = self.start(
                [str(self.site.venv / "bin" / "gunicorn"), "pages_service:application",
                 f"--bind={url.removeprefix('http://')}", "--workers=1"],
                folder / "pages_service",
                "pages_service",
            )  # fmt: skip
            wait_http(f"{url}/api/v2/pages/", process=service)
            add_candidate(folder / "strangler", url)
            wait_http(f"{self.proxy}/_strangler/healthz")
        elif step.command.startswith("python manage.py shell"):
            settings = {"DJANGO_SETTINGS_MODULE": "mysite.settings.dev"}
            self.start([python, "manage.py", "outbox_relay"], folder, "relay", **settings)
            self.start([python, "pages_service.py", "consume"], folder / "pages_service", "consume")

    def stop(self) -> None:
        for process in self.running:
            stop_process(process)


@pytest.fixture(scope="module")
def terminals(wagtail_site: Site) -> Iterator[Terminals]:
    opened = Terminals(wagtail_site)
    try:
        yield opened
    finally:
        opened.stop()


def test_the_adoption_guide_runs_as_written(wagtail_site, terminals, tmp_path):
    steps = steps_of(GUIDE)
    assert len(steps) >= 15, "the guide lost its commands"
    env = foreign_env(PATH=f"{wagtail_site.venv / 'bin'}:{foreign_env()['PATH']}")
    forced = {
        "MONOLITH": wagtail_site.url,
        "PROXY": terminals.proxy,
        "STRANGLER_PROXY_URL": terminals.proxy,
        "TOOLKIT": str(ROOT),
    }
    state = tmp_path / "shell-state.sh"
    for step in steps:
        terminals.before(step)
        result = run_step(step.command, env, state, forced, folder=wagtail_site.folder)
        output = result.stdout + result.stderr
        where = f"{step.chapter}:{step.line}: $ {step.command}"
        assert result.returncode == 0, f"{where}\nexit {result.returncode}\n{output[-3000:]}"
        problem = mismatch(step.expected, output)
        assert problem is None, f"{where}\n{problem}\n--- printed:\n{output[-3000:]}"
