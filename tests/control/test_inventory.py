"""Route inventory: the monolith's URLconf (via its own management command) against the routes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from strangler_proxy.control.route_inventory import inventory, summary
from strangler_proxy.routes import parse_table
from tests.proxy.conftest import ADMIN_TOKEN, routes_yaml, upstream_spec
from tests.proxy.processes import ROOT

ROUTES = routes_yaml(
    {
        "monolith": upstream_spec("http://127.0.0.1:9"),
        "catalog": upstream_spec("http://127.0.0.1:9"),
    },
    [
        {
            "name": "products-read",
            "prefix": "/api/v1/products/",
            "methods": ["GET", "HEAD"],
            "mode": "canary",
            "percent": 25,
            "upstream": "catalog",
        },
        {"name": "jwks", "prefix": "/.well-known/jwks.json", "mode": "monolith"},
    ],
)


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory) -> list[dict]:
    """The real monolith's endpoints, from `manage.py urls_inventory --json` in a subprocess."""
    done = subprocess.run(
        [sys.executable, "manage.py", "urls_inventory", "--json"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "monolith.settings",
            "STRANGLER_DATA_DIR": str(tmp_path_factory.mktemp("monolith")),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["endpoints"]


def test_the_command_lists_drf_views_with_their_methods(endpoints):
    by_pattern = {e["pattern"]: e for e in endpoints}
    detail = by_pattern["/api/v1/products/<sku>/"]
    assert detail["methods"] == ["GET", "HEAD", "PATCH"]
    assert detail["example"] == "/api/v1/products/ABC-001/"
    assert detail["view"].endswith("ProductDetailApi")
    assert by_pattern["/api/v1/orders/<int:order_id>/cancel/"]["example"] == (
        "/api/v1/orders/1/cancel/"
    )
    assert by_pattern["/api/v1/auth/token"]["methods"] == ["POST"]


def test_every_endpoint_is_listed_with_its_route_mode_and_share(endpoints):
    rows = inventory(
        endpoints,
        parse_table(ROUTES),
        {"products-read": {"monolith": 75.0, "catalog": 25.0}},
    )
    by_key = {(r["method"], r["pattern"]): r for r in rows}
    read = by_key[("GET", "/api/v1/products/<sku>/")]
    assert (read["route"], read["mode"], read["percent"]) == ("products-read", "canary", 25.0)
    assert read["monolith_share"] == 0.75 and read["requests"] == 100
    # a write to the same path is not covered by the read route: listed, not hidden
    write = by_key[("PATCH", "/api/v1/products/<sku>/")]
    assert (write["route"], write["mode"]) == (None, "uncovered")
    assert by_key[("*", "/.well-known/jwks.json")]["route"] == "jwks"
    report = summary(rows)
    assert "POST /api/v1/orders/" in report["uncovered"]
    assert "PATCH /api/v1/products/<sku>/" in report["uncovered"]
    assert report["endpoints"] == len(endpoints)


def test_cli_prints_the_inventory(tmp_path):
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "strangler_proxy",
            "inventory",
            "--file",
            str(routes),
            "--metrics",
            "none",
        ],
        cwd=ROOT,
        env={**os.environ, "STRANGLER_MONOLITH_SETTINGS": "monolith.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "(none: UNCOVERED)" in done.stdout
    assert "canary 25%" in done.stdout
    assert "endpoints" in done.stdout.splitlines()[-1]


def test_without_the_monolith_settings_the_cli_says_what_to_set(tmp_path):
    # it used to list our own monolith whatever project the operator had in mind
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRANGLER_MONOLITH_")}
    done = subprocess.run(
        [sys.executable, "-m", "strangler_proxy", "inventory", "--file", str(routes)],
        cwd=tmp_path,
        env={**env, "DJANGO_SETTINGS_MODULE": "monolith.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "STRANGLER_MONOLITH_SETTINGS is not set" in done.stderr
    assert done.stdout == ""


def test_admin_api_serves_the_inventory(make_proxy, start_upstream, monkeypatch):
    monkeypatch.setenv("STRANGLER_MONOLITH_SETTINGS", "monolith.settings")
    monkeypatch.setenv("STRANGLER_MONOLITH_DIR", str(ROOT))
    upstream = start_upstream("monolith")
    client = make_proxy(
        ROUTES.replace("http://127.0.0.1:9", upstream.url),
    )
    assert client.get("/_strangler/inventory").status_code == 401
    response = client.get("/_strangler/inventory", HTTP_AUTHORIZATION=f"Bearer {ADMIN_TOKEN}")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["summary"]["by_mode"]["canary"] == 8  # GET and HEAD of 4 product endpoints
    assert any(r["route"] is None for r in data["endpoints"])
