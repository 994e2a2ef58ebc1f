"""The control centre in a real headless browser (Debian's chromium driven by Playwright): log in
as staff, flip a route through the page with its confirmation, and see the traffic move."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import urllib3
import yaml

from tests.proxy.conftest import routes_yaml, upstream_spec
from tests.proxy.processes import ProxyProcess
from tests.support.wait import wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

RECONCILE_METRICS = (
    b"# TYPE strangler_reconcile_drift gauge\n"
    b'strangler_reconcile_drift{entity="product",owner="monolith",mirror="catalog"} 3.0\n'
    b'strangler_reconcile_drift{entity="inventory",owner="monolith",mirror="catalog"} 0.0\n'
)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed here when missing (never Playwright's own download)."""
    if not CHROMIUM.exists():
        apt = shutil.which("apt-get")
        if apt is None:
            pytest.fail("chromium is missing and apt-get is not available to install it")
        done = subprocess.run(
            [apt, "install", "-y", "chromium"], capture_output=True, text=True, timeout=900
        )
        if done.returncode != 0 or not CHROMIUM.exists():
            pytest.fail(f"apt-get install chromium failed: {done.stderr[-2000:]}")
    return CHROMIUM


@pytest.fixture
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def fleet(tmp_path, start_upstream, jwks_server, make_token):
    """A fake monolith (token endpoint, products), a fake catalog and a real proxy."""
    staff = make_token("1", is_staff=True)
    customer = make_token("2", is_staff=False)

    def monolith_answers(handler, record):
        if record["target"] == "/api/v1/auth/token":
            body = json.loads(base64.b64decode(record["body"]))
            access = staff if body.get("username") == "staff" else customer
            return 200, json.dumps({"access": access, "refresh": "r"}).encode()
        if record["target"].startswith("/api/v1/products/"):
            return 200, b'{"sku": "COF-0001", "served_by": "monolith"}'
        return None

    def catalog_answers(handler, record):
        if record["target"].startswith("/api/v1/products/"):
            return 200, b'{"sku": "COF-0001", "served_by": "catalog"}'
        if record["target"] == "/metrics":  # its last reconciliation left drift in one entity
            return 200, RECONCILE_METRICS
        return None

    monolith = start_upstream("monolith", monolith_answers)
    catalog = start_upstream("catalog", catalog_answers)
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        routes_yaml(
            {"monolith": upstream_spec(monolith.url), "catalog": upstream_spec(catalog.url)},
            [
                {
                    "name": "products",
                    "prefix": "/api/v1/products/",
                    "mode": "monolith",
                    "upstream": "catalog",
                    "fallback": "monolith",
                }
            ],
        ),
        encoding="utf-8",
    )
    proxy = ProxyProcess(
        routes,
        data_dir=tmp_path / "data",
        env={
            "STRANGLER_JWKS_URL": f"{jwks_server.url}/.well-known/jwks.json",
            "STRANGLER_HEALTH_CHECKS": "false",
        },
    )
    with proxy:
        yield proxy, monolith, catalog


def _send(proxy: ProxyProcess, count: int) -> list[str]:
    http = urllib3.PoolManager()
    return [
        http.request("GET", f"{proxy.url}/api/v1/products/COF-0001/").json()["served_by"]
        for _ in range(count)
    ]


def _log_in(browser, proxy: ProxyProcess, username: str):
    page = browser.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{proxy.url}/_strangler/ui/")
    page.fill("#login-form input[name=username]", username)
    page.fill("#login-form input[name=password]", "secret")
    page.click("#login-form button[type=submit]")
    return page


def test_flip_a_route_through_the_page_and_see_the_traffic_move(fleet, browser):
    from playwright.sync_api import expect

    proxy, _monolith, catalog = fleet
    # given a staff member logged in through the page (token from the monolith, via the proxy)
    page = _log_in(browser, proxy, "staff")
    row = page.locator('#routes tr[data-route="products"]')
    expect(row.locator(".mode-cell")).to_have_text("monolith")
    assert page.evaluate("sessionStorage.getItem('strangler.token')")

    # and traffic on the monolith, shown live
    assert set(_send(proxy, 10)) == {"monolith"}
    expect(row.locator(".traffic")).to_contain_text("monolith: 10")
    # and each service's reconciliation drift per entity, from its /metrics
    drift = page.locator('#reconcile tr[data-service="catalog"][data-entity="product"]')
    expect(drift.locator(".drift")).to_have_text("3 rows")
    expect(drift).to_contain_text("monolith → catalog")
    clean = page.locator('#reconcile tr[data-service="catalog"][data-entity="inventory"]')
    expect(clean.locator(".drift")).to_have_text("none")

    # when the operator picks canary, applies, and cancels the confirmation: nothing changes
    row.locator("select[name=mode]").select_option("canary")
    row.locator("input[name=percent]").fill("30")
    row.locator("button.apply").click()
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#confirm-message")).to_have_text(
        "Change route products from monolith to canary 30%?"
    )
    page.click("#confirm-cancel")
    expect(page.locator("#confirm")).to_be_hidden()
    assert yaml.safe_load(proxy.routes_file.read_text())["routes"][0]["mode"] == "monolith"

    # when they choose extracted and confirm
    row.locator("select[name=mode]").select_option("extracted")
    row.locator("button.apply").click()
    expect(page.locator("#confirm-message")).to_have_text(
        "Change route products from monolith to extracted?"
    )
    page.click("#confirm-ok")

    # then the file and the page say extracted, and new requests land on the catalog
    expect(row.locator(".mode-cell")).to_have_text("extracted")
    assert yaml.safe_load(proxy.routes_file.read_text())["routes"][0]["mode"] == "extracted"
    served = _send(proxy, 10)

    def flip_reached_the_traffic() -> bool:  # the other worker re-reads the file within 0.2 s
        if served[-1] == "catalog":
            return True
        served.extend(_send(proxy, 1))
        return False

    wait_for(flip_reached_the_traffic, timeout=30, interval=0, what="the flip to reach the traffic")
    moved = len(served) - served.index("catalog")
    assert set(served[served.index("catalog") :]) == {"catalog"}
    assert len([r for r in catalog.received if "products" in r["target"]]) == moved
    expect(row.locator(".traffic")).to_contain_text(f"catalog: {moved}")
    expect(row.locator(".traffic")).to_contain_text("monolith: ")


def test_a_customer_cannot_use_the_page(fleet, browser):
    from playwright.sync_api import expect

    proxy, _monolith, _catalog = fleet
    page = _log_in(browser, proxy, "alice")
    expect(page.locator("#login-error")).to_contain_text("refused")
    expect(page.locator("#dashboard")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('strangler.token')") is None
