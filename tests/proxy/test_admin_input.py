"""Operators' changes (admin API, CLI) are data: no `${VAR}` expansion, errors never echo a value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strangler_proxy.routes.file import route_update
from strangler_proxy.routes.load import parse_table
from strangler_proxy.routes.model import RouteTableError
from tests.proxy.conftest import ADMIN, routes_yaml, upstream_spec, write_routes

SECRET = "the-secret-key-value-0123456789"


@pytest.fixture
def client(make_proxy, start_upstream, monkeypatch):
    monkeypatch.setenv("DJANGO_SECRET_KEY", SECRET)
    monolith = start_upstream("monolith")
    return make_proxy(
        routes_yaml(
            {"monolith": upstream_spec(monolith.url), "service": upstream_spec(monolith.url)},
            [{"name": "p", "prefix": "/p/", "mode": "monolith", "upstream": "service"}],
        )
    )


def _patch(client, changes):
    return client.patch(
        "/_strangler/routes/p", data=json.dumps(changes), content_type="application/json", **ADMIN
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"upstream": "${DJANGO_SECRET_KEY}"},
        {"fallback": "${DJANGO_SECRET_KEY:-x}"},
        {"methods": ["GET", "${DJANGO_SECRET_KEY}"]},
    ],
)
def test_patch_never_expands_the_environment(client, settings, changes):
    path = Path(settings.STRANGLER_PROXY["ROUTES_FILE"])
    before = path.read_text()
    refused = _patch(client, changes)
    assert refused.status_code == 400
    assert SECRET not in refused.content.decode()
    assert next(iter(changes)) in refused.json()["detail"]  # the field is named
    assert path.read_text() == before


def test_validation_errors_name_the_field_and_rule_never_the_value(client):
    unknown = _patch(client, {"upstream": "no-such-upstream-xyz"})
    assert unknown.status_code == 400
    detail = unknown.json()["detail"]
    assert "upstream" in detail and "no-such-upstream-xyz" not in detail
    bad_mode = _patch(client, {"mode": "sneaky-value-xyz"})
    assert bad_mode.status_code == 400
    detail = bad_mode.json()["detail"]
    assert "mode" in detail and "must be one of" in detail and "sneaky-value-xyz" not in detail


def test_the_cli_writer_refuses_placeholders_too(tmp_path, monkeypatch):
    monkeypatch.setenv("DJANGO_SECRET_KEY", SECRET)
    path = write_routes(
        tmp_path / "routes.yaml",
        routes_yaml(
            {"monolith": upstream_spec("http://127.0.0.1:9")}, [{"name": "p", "prefix": "/p/"}]
        ),
    )
    with pytest.raises(RouteTableError) as refused:
        route_update(path, "p", {"upstream": "${DJANGO_SECRET_KEY}"})
    assert SECRET not in str(refused.value) and "upstream" in str(refused.value)


def test_the_operators_file_still_expands_placeholders():
    text = routes_yaml({"monolith": upstream_spec("${MONO:-http://fallback:1}")}, [])
    table = parse_table(text, environ={"MONO": "http://real:2"})
    assert table.upstreams["monolith"].instances == ("http://real:2",)
