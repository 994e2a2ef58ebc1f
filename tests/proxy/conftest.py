"""Fixtures for the proxy suite: fake upstreams, a routes file per test, a configured proxy."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from django.test import Client

from servicekit.web.jwt.keys import SigningKey, generate_private_pem, jwks_document
from servicekit.web.jwt.tokens import ACCESS, TokenPolicy, token_issue
from tests.proxy.fakes import FakeUpstream
from tests.proxy.nginx_plane import NginxPlane
from tests.proxy.processes import ProxyProcess
from tests.support.backends import reachable_redis_url

ISSUER, AUDIENCE = "strangler-users", "strangler"
ADMIN_TOKEN = "test-admin-token-0123456789"
ADMIN = {"HTTP_AUTHORIZATION": f"Bearer {ADMIN_TOKEN}"}  # a test client's admin header


@pytest.fixture
def redis_url() -> str:
    """The real Redis: an integration test fails (never skips) when CI says Redis must be there."""
    return reachable_redis_url()


@pytest.fixture
def start_upstream() -> Iterator[Callable[..., FakeUpstream]]:
    started: list[FakeUpstream] = []

    def start(name: str = "upstream", behaviour=None) -> FakeUpstream:
        server = FakeUpstream(name, behaviour).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def signing_key() -> SigningKey:
    return SigningKey.from_pem(generate_private_pem())


@pytest.fixture
def jwks_server(start_upstream, signing_key) -> FakeUpstream:
    document = json.dumps(jwks_document([signing_key])).encode()

    def serve(handler, record):
        if record["target"] == "/.well-known/jwks.json":
            return 200, document
        return None

    return start_upstream("jwks", serve)


@pytest.fixture
def make_token(signing_key) -> Callable[..., str]:
    def make(sub: str = "42", **claims) -> str:
        policy = TokenPolicy(issuer=ISSUER, audience=AUDIENCE)
        return token_issue(
            key=signing_key, policy=policy, subject=sub, token_type=ACCESS, claims=claims
        )

    return make


def write_routes(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.fixture
def proxy_config(tmp_path, jwks_server) -> Callable[..., dict]:
    def make(routes_text: str, **overrides) -> dict:
        routes = write_routes(tmp_path / "routes.yaml", routes_text)
        return {
            "ROUTES_FILE": str(routes),
            "CHECK_INTERVAL": 0.0,
            "MAX_BODY": 1024 * 1024,
            "BUFFER_LIMIT": 256 * 1024,
            "JWKS_URL": f"{jwks_server.url}/.well-known/jwks.json",
            "JWT_ISSUER": ISSUER,
            "JWT_AUDIENCE": AUDIENCE,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "REDIS_URL": "",
            "HEALTH_CHECKS": False,
            "SHADOW_WORKERS": 2,
            "SHADOW_DIFFS_FILE": str(tmp_path / "shadow-diffs.jsonl"),
            "TRACING": False,
            **overrides,
        }

    return make


@pytest.fixture
def make_proxy(settings, proxy_config) -> Callable[..., Client]:
    """Configure the in-process proxy from a routes file text; returns a Django test client."""

    def make(routes_text: str, **overrides) -> Client:
        settings.STRANGLER_PROXY = proxy_config(routes_text, **overrides)
        return Client()

    return make


def upstream_spec(url: str | list[str], **extra) -> dict:
    urls = [url] if isinstance(url, str) else url
    return {
        "instances": urls,
        "breaker": {"fail_max": 3, "reset_timeout": 30},
        "retry": {"attempts": 1, "backoff": 0.0},
        **extra,
    }


def routes_yaml(upstreams: dict[str, dict], routes: list[dict], default: str = "monolith") -> str:
    """A routes file; `upstreams` maps a name to `upstream_spec(...)` (or a full spec)."""
    return yaml.safe_dump(
        {"version": 1, "default_upstream": default, "upstreams": upstreams, "routes": routes},
        sort_keys=False,
    )


@pytest.fixture(scope="module")
def fake_monolith() -> Iterator[FakeUpstream]:
    """One fake monolith for a module whose proxy runs as a real server in front of it."""
    server = FakeUpstream("monolith").start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def served_proxy(
    upstream: FakeUpstream,
    folder: Path,
    env: dict[str, str] | None = None,
    *,
    server: str | None = None,
) -> Iterator[ProxyProcess]:
    """The proxy under its real server (granian unless `server` says), every path on
    `upstream` (as the monolith)."""
    routes = write_routes(
        folder / "routes.yaml", routes_yaml({"monolith": upstream_spec(upstream.url)}, [])
    )
    with ProxyProcess(routes, data_dir=folder, env=env, server=server) as running:
        yield running


# the Python proxy under granian (as deployed), gunicorn and uvicorn (what hands the proxy the
# request differs: raw target, header names, deadlines), and nginx fed `export nginx`'s output
PLANES = ("python", "python-gunicorn", "python-uvicorn", "nginx")


@contextmanager
def served_plane(
    plane: str, upstream: FakeUpstream, folder: Path, *, max_body: int
) -> Iterator[ProxyProcess | NginxPlane]:
    """`served_proxy`, or nginx with the same table: either answers on `.port` and `.url`."""
    if plane.startswith("python"):
        server = plane.partition("-")[2] or None
        env = {"STRANGLER_MAX_BODY": str(max_body)}
        with served_proxy(upstream, folder, env, server=server) as running:
            yield running
        return
    routes = write_routes(
        folder / "routes.yaml", routes_yaml({"monolith": upstream_spec(upstream.url)}, [])
    )
    with NginxPlane(routes, folder / "nginx", max_body=max_body) as running:
        yield running
