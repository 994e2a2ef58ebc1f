"""`make dist`'s wheels, installed as an outside project would: a clean virtual environment, the
wheels and their dependencies from the package index, no editable install, no repository on
sys.path (a temporary working folder, PYTHONPATH unset).

One environment for the module (building and installing take most of the time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

import servicekit
import strangler_proxy
from scripts.dist import dist_build
from tests.support.processes import free_port, stop_processes
from tests.support.wait import wait_http

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Installed:
    folder: Path  # a working folder outside the repository
    bin: Path

    def env(self, **extra: str) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "PIP_", "TMPDIR", "SSL_CERT")
        env = {k: v for k, v in os.environ.items() if k.startswith(keep)}
        return {**env, "STRANGLER_DATA_DIR": str(self.folder / "data"), **extra}

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            args,
            cwd=self.folder,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def python(self, code: str, **extra: str) -> subprocess.CompletedProcess:
        return self.run(str(self.bin / "python"), "-c", code, **extra)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    folder = tmp_path_factory.mktemp("dist")
    wheels = dist_build(folder / "wheels")
    assert sorted(w.name.split("-")[0] for w in wheels) == ["django_strangler", "strangler_proxy"]
    subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True)
    bin_ = folder / "venv" / "bin"
    plumbing = next(w for w in wheels if w.name.startswith("django_strangler"))
    proxy = next(w for w in wheels if w.name.startswith("strangler_proxy"))
    # the lock's versions (the ones the shop is tested with); [grpc] for the gRPC helpers' import
    done = subprocess.run(
        [
            *(str(bin_ / "python"), "-m", "pip", "install", "--quiet", "--no-input"),
            *("-c", str(ROOT / "requirements.lock"), f"{plumbing}[grpc]", str(proxy)),
        ],
        cwd=folder,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return Installed(folder=folder, bin=bin_)


def test_the_wheels_are_installed_not_the_repository(installed):
    done = installed.python(
        "import json, sys, importlib.metadata as md, importlib.resources as r\n"
        "import servicekit, strangler_proxy\n"
        "print(json.dumps({\n"
        " 'files': [servicekit.__file__, strangler_proxy.__file__],\n"
        " 'versions': [md.version('django-strangler'), md.version('strangler-proxy')],\n"
        " 'typed': [r.files(p).joinpath('py.typed').is_file() for p in ('servicekit', 'strangler_proxy')],\n"
        " 'requires': md.requires('strangler-proxy'),\n"
        "}))"
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    venv = str(installed.folder / "venv")
    assert all(f.startswith(venv) for f in report["files"]), report["files"]
    assert report["versions"] == [servicekit.__version__, strangler_proxy.__version__]
    assert report["typed"] == [True, True]
    assert any(r.startswith("django-strangler") for r in report["requires"])


def test_strangler_proxy_help(installed):
    done = installed.run(str(installed.bin / "strangler-proxy"), "--help")
    assert done.returncode == 0, done.stderr
    assert "routes" in done.stdout


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello from upstream: {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_installed_proxy_serves_through_a_routes_file(installed, upstream):
    # given: a route table naming the tiny upstream as the app behind the proxy
    routes = installed.folder / "routes.yaml"
    routes.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "default_upstream": "app",
                "upstreams": {"app": {"instances": [upstream]}},
                "routes": [{"name": "hello", "prefix": "/hello/", "upstream": "app"}],
            }
        )
    )
    listed = installed.run(
        str(installed.bin / "strangler-proxy"), "--file", str(routes), "routes", "list"
    )
    assert listed.returncode == 0, listed.stderr
    assert "hello" in listed.stdout
    # when: the proxy is started from its console script
    port = free_port()
    proxy = subprocess.Popen(
        [
            *(str(installed.bin / "strangler-proxy-serve"), "--bind", f"127.0.0.1:{port}"),
            *("--routes", str(routes)),
        ],
        cwd=installed.folder,
        env=installed.env(STRANGLER_PROXY_WORKERS="1", DJANGO_ENV="test"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/_strangler/routes", timeout=60, process=proxy)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello/there", timeout=10) as answer:
            # then: the upstream answered through it
            assert answer.status == 200
            assert answer.read() == b"hello from upstream: /hello/there"
    finally:
        stop_processes([proxy])


# A project of its own: the plumbing's apps, a contract of its own, no demo shop anywhere.
OUTSIDE_PROJECT = """
import dataclasses, sys
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=[
        "django.contrib.auth", "django.contrib.contenttypes", "servicekit.web",
        "servicekit.events.outbox", "servicekit.events.relay", "servicekit.events.inbox",
        "servicekit.migration",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    USE_TZ=True,
    SERVICE_NAME="blog",
    SERVICEKIT_EVENTS={"EXCHANGE": "blog.events", "SUBSCRIPTIONS": {"search": ("blog.#",)}},
)
django.setup()

import importlib
import servicekit

for module in servicekit.PUBLIC_MODULES:
    importlib.import_module(module)

from django.core.management import call_command
from django.db import transaction
from servicekit.events.event import Event
from servicekit.events.outbox import OutboxMessage, outbox_enqueue
from servicekit.events.types import EventTypes
from servicekit.events.inbox.registry import EventConsumer


@dataclasses.dataclass(frozen=True)
class PostPublishedV1(Event):
    event_type = "blog.post_published.v1"
    aggregate_type = "post"
    slug: str

    @property
    def aggregate_id(self):
        return self.slug


call_command("migrate", verbosity=0)
with transaction.atomic():
    outbox_enqueue(PostPublishedV1(slug="hello"))
row = OutboxMessage.objects.get()
consumer = EventConsumer("search", event_types=EventTypes([PostPublishedV1]))
shop = sorted(m for m in sys.modules if m.split(".")[0] in ("contracts", "monolith", "extracted"))
print(row.event_type, row.aggregate_id, len(servicekit.PUBLIC_MODULES), shop)
"""


def test_servicekit_public_api_in_a_project_without_the_shop(installed):
    done = installed.python(OUTSIDE_PROJECT)
    assert done.returncode == 0, done.stderr[-3000:]
    # (the last line: the outbox logs its enqueue on stdout before it)
    assert done.stdout.splitlines()[-1].split() == [
        "blog.post_published.v1",
        "hello",
        str(len(servicekit.PUBLIC_MODULES)),
        "[]",
    ]
