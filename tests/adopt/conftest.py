"""A Django project we did not write (wagtail's starter site) in a virtual environment of its own.

`install_toolkit` is the one place that puts our toolkit into that environment. The environment
is made once per test session and shared by the folder's modules; each module gets a site.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from scripts.dist import dist_build
from tests.support.processes import free_port, stop_process
from tests.support.wait import wait_http

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
# The starter's `dev` settings: DEBUG on (its static files served by Django), SQLite beside it.
SETTINGS = "mysite.settings.dev"
EXPORT_TOKEN = "export-token-for-the-backfill"  # data/site_settings.py
PAGES = ("About", "Contact", "Pricing")  # published under the starter's home page
LISTING = "/api/v2/pages/"  # wagtail's page listing: the endpoint the tests extract


def install_toolkit(venv_python: Path, *also: str) -> None:
    """Our toolkit into a foreign project's environment, as its users would install it: the
    wheels `make dist` builds (scripts/dist.py), with their dependencies from the index and the
    requirements `also` in the same resolution (one pip run costs less than two)."""
    wheels = dist_build(venv_python.parent.parent / "wheels")
    assert {w.name.split("-")[0] for w in wheels} == {"django_strangler", "strangler_proxy"}
    command = [str(venv_python), "-m", "pip", "install", "-q", *map(str, wheels), *also]
    _run(command, cwd=venv_python.parent, timeout=600)


def foreign_env(**extra: str) -> dict[str, str]:
    """This test run's environment without what would point the project at ours."""
    drop = ("STRANGLER_", "DJANGO_", "PYTHONPATH", "DATABASE_URL", "CELERY_", "REDIS_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, **extra}


def _run(command: list[str], *, cwd: Path, timeout: float = 120, **extra: str) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=foreign_env(**extra), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@dataclass
class Site:
    folder: Path
    venv: Path
    url: str

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(self, *args: str, timeout: float = 120, **extra: str) -> str:
        """`python ARGS` in the project's folder and environment (exit 0 asserted)."""
        return _run([str(self.python), *args], cwd=self.folder, timeout=timeout, **extra)


@pytest.fixture(scope="session")
def foreign_venv(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("foreign-venv")
    _run([sys.executable, "-m", "venv", str(venv)], cwd=venv)
    python = venv / "bin" / "python"
    # wagtail's releases that support Django 5.2, the version the toolkit is built on
    install_toolkit(python, "wagtail>=7,<9")
    return venv


SETUP = f"""
from django.core.management import call_command
call_command("migrate", verbosity=0)
from home.models import HomePage
home = HomePage.objects.get()
for title in {PAGES!r}:
    page = home.add_child(instance=HomePage(title=title, slug=title.lower()))
    page.save_revision().publish()
"""


@pytest.fixture(scope="module")
def wagtail_site(foreign_venv, tmp_path_factory) -> Iterator[Site]:
    """The starter site, its pages and the test data's additions, under gunicorn: one per
    module (each walks the strangling from the start)."""
    folder = tmp_path_factory.mktemp("wagtail-site")
    _run([str(foreign_venv / "bin" / "wagtail"), "start", "mysite", str(folder)], cwd=folder)
    with (folder / "mysite" / "settings" / "base.py").open("a") as settings:
        settings.write((DATA / "site_settings.py").read_text())
    with (folder / "mysite" / "urls.py").open("a") as urls:
        urls.write((DATA / "site_urls.py").read_text())
    (folder / "mysite" / "services.py").write_text((DATA / "site_services.py").read_text())
    port = free_port()
    site = Site(folder=folder, venv=foreign_venv, url=f"http://127.0.0.1:{port}")
    env = {"DJANGO_SETTINGS_MODULE": SETTINGS}
    site.run("manage.py", "shell", "-c", SETUP, **env)  # migrate and pages: one Django start
    log = (folder / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [
            str(foreign_venv / "bin" / "gunicorn"),
            "mysite.wsgi",
            f"--bind=127.0.0.1:{port}",
            "--workers=2",
            "--graceful-timeout=2",
        ],
        cwd=folder,
        env=foreign_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"{site.url}/", process=server)
        yield site
    finally:
        stop_process(server)
        log.close()


def add_candidate(out: Path, url: str) -> str:
    """What docs/adopt.md has an operator do by hand in `out`/routes.yaml: the extracted service
    as an upstream, the listing route's candidate, with gates. Returns the route's name."""
    path = out / "routes.yaml"
    table = yaml.safe_load(path.read_text())
    table["upstreams"]["pages"] = {"instances": [url], "timeout": {"connect": 1, "read": 10}}
    route = next(r for r in table["routes"] if r.get("pattern") == LISTING)
    route["upstream"] = "pages"
    route["lifecycle"] = {
        "gates": {"min_requests": 5, "max_mismatch_rate": 0, "max_p99_ms": 5000},
        "canary_steps": [50],
    }
    path.write_text(yaml.safe_dump(table, sort_keys=False))
    return route["name"]
