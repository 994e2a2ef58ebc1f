"""The real monolith behind the proxy: API, JWKS, edge auth and a storefront login, as directly."""

from __future__ import annotations

import re

import pytest
import requests
import yaml

from tests.proxy.processes import ROOT, ProxyProcess
from tests.support.fleet import DjangoService

pytestmark = pytest.mark.e2e
SHIPPED_ROUTES = ROOT / "strangler_proxy" / "routes.yaml"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fleet")
    monolith = DjangoService(
        "monolith",
        settings="monolith.settings",
        manage="manage.py",
        wsgi="monolith.wsgi:application",
        data_dir=folder / "monolith",
        env={"CELERY_TASK_ALWAYS_EAGER": "true"},
        setup=[["seed_demo"]],
    )
    with monolith:
        routes = yaml.safe_load(SHIPPED_ROUTES.read_text())
        routes["routes"].insert(0, {"name": "me", "prefix": "/api/v1/users/me", "auth": "required"})
        routes_file = folder / "routes.yaml"
        routes_file.write_text(yaml.safe_dump(routes, sort_keys=False))
        with ProxyProcess(
            routes_file, data_dir=folder / "proxy", env={"STRANGLER_MONOLITH_URL": monolith.url}
        ) as proxy:
            yield monolith.url, proxy.url


def test_json_api_and_jwks_answer_as_directly(fleet):
    direct, proxied = fleet
    paths = (
        "/api/v1/products/",
        "/api/v1/products/?page=2",
        "/api/v1/categories/",
        "/.well-known/jwks.json",
        "/api/v1/products/NO-SUCH-SKU/",
        "/api/v1/orders/",
        "/healthz",
    )
    for path in paths:
        a = requests.get(direct + path, timeout=10)
        b = requests.get(proxied + path, timeout=10)
        assert (b.status_code, b.headers.get("Content-Type")) == (
            a.status_code,
            a.headers.get("Content-Type"),
        ), path
        if "problem" in a.headers.get("Content-Type", ""):  # each carries its own request id
            assert {**b.json(), "request_id": None} == {**a.json(), "request_id": None}, path
        else:
            # links are built from X-Forwarded-Host: through the proxy they name the public origin
            assert b.content == a.content.replace(direct.encode(), proxied.encode()), path


def test_tokens_from_the_monolith_pass_the_edge(fleet):
    direct, proxied = fleet
    token = requests.post(
        f"{proxied}/api/v1/auth/token",
        json={"username": "alice", "password": "alice-demo-pass"},
        timeout=10,
    )
    assert token.status_code == 200, token.text
    access = token.json()["access"]
    edge = requests.get(f"{proxied}/api/v1/users/me", timeout=10)
    assert edge.status_code == 401 and edge.json()["code"] == "not_authenticated"
    headers = {"Authorization": f"Bearer {access}"}
    me = requests.get(f"{proxied}/api/v1/users/me", headers=headers, timeout=10)
    assert me.status_code == 200
    assert (
        me.json() == requests.get(f"{direct}/api/v1/users/me", headers=headers, timeout=10).json()
    )
    assert me.json()["username"] == "alice"


def test_storefront_login_with_cookies_csrf_and_redirect(fleet):
    _direct, proxied = fleet
    browser = requests.Session()
    home = browser.get(f"{proxied}/", timeout=10)
    assert home.status_code == 200 and "text/html" in home.headers["Content-Type"]
    form = browser.get(f"{proxied}/accounts/login/", timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    assert "csrftoken" in browser.cookies
    login = browser.post(
        f"{proxied}/accounts/login/",
        data={"username": "alice", "password": "alice-demo-pass", "csrfmiddlewaretoken": csrf},
        headers={"Origin": proxied, "Referer": f"{proxied}/accounts/login/"},
        allow_redirects=False,
        timeout=10,
    )
    assert login.status_code == 302, login.text[:500]
    location = login.headers["Location"]
    assert location.startswith("/") or location.startswith(proxied)  # never the monolith's origin
    assert "sessionid" in browser.cookies
    orders = browser.get(f"{proxied}/my/orders/", allow_redirects=False, timeout=10)
    assert orders.status_code == 200
    assert "alice" in orders.text.lower()


def test_request_id_round_trips_through_both(fleet):
    _direct, proxied = fleet
    response = requests.get(
        f"{proxied}/api/v1/products/", headers={"X-Request-ID": "e2e-rid-1"}, timeout=10
    )
    assert response.headers["X-Request-ID"] == "e2e-rid-1"
