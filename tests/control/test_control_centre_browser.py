"""The control centre in a real headless browser (Debian's chromium driven by Playwright): log in
as staff, flip a route through the page with its confirmation, and see the traffic move."""

from __future__ import annotations

import base64
import json
import uuid
from contextlib import contextmanager

import pytest
import urllib3
import yaml

from tests.proxy.conftest import routes_yaml, upstream_spec
from tests.proxy.processes import ProxyProcess
from tests.support.browser import control_centre_login
from tests.support.wait import wait_for

RECONCILE_METRICS = (
    b"# TYPE strangler_reconcile_drift gauge\n"
    b'strangler_reconcile_drift{entity="product",owner="monolith",mirror="catalog"} 3.0\n'
    b'strangler_reconcile_drift{entity="inventory",owner="monolith",mirror="catalog"} 0.0\n'
)


def _monolith_answers(make_token):
    """The fake monolith's token endpoint: a staff token for `staff`, a customer's otherwise."""
    staff = make_token("1", is_staff=True)
    customer = make_token("2", is_staff=False)

    def answers(handler, record):
        if record["target"] == "/api/v1/auth/token":
            body = json.loads(base64.b64decode(record["body"]))
            access = staff if body.get("username") == "staff" else customer
            return 200, json.dumps({"access": access, "refresh": "r"}).encode()
        if record["target"].startswith("/api/v1/products/"):
            return 200, b'{"sku": "COF-0001", "served_by": "monolith"}'
        return None

    return answers


@contextmanager
def _proxy(tmp_path, jwks_server, upstreams: dict, routes: list[dict], **env: str):
    """A real proxy (gunicorn, two workers) in front of the fake upstreams."""
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(
        routes_yaml({name: upstream_spec(u.url) for name, u in upstreams.items()}, routes),
        encoding="utf-8",
    )
    with ProxyProcess(
        routes_file,
        data_dir=tmp_path / "data",
        env={
            "STRANGLER_JWKS_URL": f"{jwks_server.url}/.well-known/jwks.json",
            "STRANGLER_HEALTH_CHECKS": "false",
            # on the real pass breakers live in Redis: this proxy's, not an earlier test's
            "CACHE_KEY_PREFIX": f"control-test-{uuid.uuid4().hex[:8]}",
            **env,
        },
    ) as proxy:
        yield proxy


@pytest.fixture
def fleet(tmp_path, start_upstream, jwks_server, make_token):
    """A fake monolith (token endpoint, products), a fake catalog and a real proxy."""

    def catalog_answers(handler, record):
        if record["target"].startswith("/api/v1/products/"):
            return 200, b'{"sku": "COF-0001", "served_by": "catalog"}'
        if record["target"] == "/metrics":  # its last reconciliation left drift in one entity
            return 200, RECONCILE_METRICS
        return None

    monolith = start_upstream("monolith", _monolith_answers(make_token))
    catalog = start_upstream("catalog", catalog_answers)
    products = {
        "name": "products",
        "prefix": "/api/v1/products/",
        "mode": "monolith",
        "upstream": "catalog",
        "fallback": "monolith",
    }
    upstreams = {"monolith": monolith, "catalog": catalog}
    with _proxy(tmp_path, jwks_server, upstreams, [products]) as proxy:
        yield proxy, monolith, catalog


def _send(proxy: ProxyProcess, count: int) -> list[str]:
    http = urllib3.PoolManager()
    return [
        http.request("GET", f"{proxy.url}/api/v1/products/COF-0001/").json()["served_by"]
        for _ in range(count)
    ]


def _log_in(browser, proxy: ProxyProcess, username: str, password: str = "secret"):
    return control_centre_login(browser, proxy.url, username, password)


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


def _outbox_metrics(pending: int, age: float) -> bytes:
    """What servicekit's collect_outbox exports, as a service's /metrics says it."""
    return (
        f"# TYPE outbox_pending_messages gauge\noutbox_pending_messages {pending}.0\n"
        f"# TYPE outbox_oldest_pending_age_seconds gauge\n"
        f"outbox_oldest_pending_age_seconds {age}\n"
    ).encode()


@pytest.fixture
def canary_fleet(tmp_path, start_upstream, jwks_server, make_token):
    """Products on a 30% canary to a catalog whose every 4th answer is a 503; categories
    shadowed to it, differing on odd numbers; orders extracted to a service that is down; each
    exports an outbox lag; the control centre samples every 0.5 s."""
    monolith_token = _monolith_answers(make_token)
    catalog_seen = {"products": 0}

    def monolith_answers(handler, record):
        if record["target"].startswith("/api/v1/categories/"):
            return 200, json.dumps({"slug": record["target"].split("/")[4]}).encode()
        if record["target"] == "/metrics":
            return 200, _outbox_metrics(2, 7.5)
        return monolith_token(handler, record)

    def catalog_answers(handler, record):
        target = record["target"]
        if target.startswith("/api/v1/products/"):
            catalog_seen["products"] += 1
            status = 503 if catalog_seen["products"] % 4 == 0 else 200
            return status, b'{"sku": "COF-0001", "served_by": "catalog"}'
        if target.startswith("/api/v1/categories/"):
            number = int(target.split("/")[4].removeprefix("c"))
            slug = f"c{number}" if number % 2 == 0 else "renamed"
            return 200, json.dumps({"slug": slug}).encode()
        if target == "/metrics":
            return 200, _outbox_metrics(0, 0.0)
        return None

    def orders_answers(handler, record):  # down: its breaker opens
        if record["target"] == "/metrics":
            return 200, _outbox_metrics(5, 42.0)
        return 503, b'{"detail": "down"}'

    upstreams = {
        "monolith": start_upstream("monolith", monolith_answers),
        "catalog": start_upstream("catalog", catalog_answers),
        "orders": start_upstream("orders", orders_answers),
    }
    routes = [
        {
            "name": "products",
            "prefix": "/api/v1/products/",
            "mode": "canary",
            "percent": 30,
            "upstream": "catalog",
        },
        {
            "name": "categories",
            "prefix": "/api/v1/categories/",
            "mode": "shadow",
            "upstream": "catalog",
        },
        {"name": "orders", "prefix": "/api/v1/orders/", "mode": "extracted", "upstream": "orders"},
    ]
    with _proxy(
        tmp_path, jwks_server, upstreams, routes, STRANGLER_CONTROL_SERIES_STEP="0.5"
    ) as proxy:
        yield proxy


def _plotted(page, chart: str, route: str, mark: str, attribute: str) -> dict[str, float]:
    """Sum of `data-<attribute>` of a chart's marks, per side, as the page drew them."""
    return page.evaluate(
        """([chart, route, mark, attribute]) => {
            const out = {};
            const svg = document.querySelector(`svg[data-chart="${chart}"][data-route="${route}"]`);
            for (const node of svg ? svg.querySelectorAll(mark) : []) {
                const side = node.dataset.side;
                out[side] = (out[side] || 0) + Number(node.dataset[attribute]);
            }
            return out;
        }""",
        [chart, route, mark, attribute],
    )


def test_the_plots_draw_what_went_through_the_proxy(canary_fleet, browser, tmp_path):
    from playwright.sync_api import expect

    proxy = canary_fleet
    http = urllib3.PoolManager(retries=False)  # a 503's Retry-After is not waited out
    # given 80 users on the products canary (the answer names its side), 5xx counted as seen
    served = {"monolith": 0, "catalog": 0}
    errors = {"monolith": 0, "catalog": 0}
    for user in range(80):
        answer = http.request(
            "GET",
            f"{proxy.url}/api/v1/products/COF-0001/",
            headers={"Cookie": f"sessionid=user-{user}"},
        )
        side = answer.json()["served_by"]
        served[side] += 1
        errors[side] += answer.status >= 500
    # and 20 category reads shadowed to the catalog, which differs on the 10 odd ones
    for number in range(20):
        assert http.request("GET", f"{proxy.url}/api/v1/categories/c{number}/").status == 200
    assert served["catalog"] and errors["catalog"] and not errors["monolith"]
    # and the orders service failing every request: each worker's breaker opens after 3
    for _ in range(12):
        assert http.request("GET", f"{proxy.url}/api/v1/orders/").status == 503

    # when a staff member opens the control centre
    page = _log_in(browser, proxy, "staff")

    # then the split plot has every request, on the side that answered it
    page.wait_for_function(
        """([want]) => {
            const sums = {};
            document.querySelectorAll('svg[data-chart="split"][data-route="products"] rect.side')
                .forEach((r) => { sums[r.dataset.side] = (sums[r.dataset.side] || 0) + Number(r.dataset.requests); });
            return sums.monolith === want.monolith && sums.catalog === want.catalog;
        }""",
        arg=[served],
        timeout=60_000,
    )
    share = served["catalog"] / 80
    assert 0.15 <= share <= 0.45  # the 30% canary, hashed per user
    columns = page.locator('svg[data-chart="split"][data-route="products"] rect.side')
    assert columns.count() >= 2
    # and the error rate per side: the catalog's 503s, none on the monolith
    assert _plotted(page, "errors", "products", ".point", "errors") == errors
    assert _plotted(page, "errors", "products", ".point", "requests") == served
    # and a p99 for each side
    p99 = page.locator('svg[data-chart="p99"][data-route="products"] .point')
    assert {p99.nth(i).get_attribute("data-side") for i in range(p99.count())} == set(served)
    # and the shadow's mismatch rate: 10 of 20 compared differ (compared in the background)
    page.wait_for_function(
        """() => {
            let compared = 0, mismatches = 0;
            document.querySelectorAll('svg[data-chart="mismatch"][data-route="categories"] .point')
                .forEach((p) => { compared += Number(p.dataset.compared); mismatches += Number(p.dataset.mismatches); });
            return compared === 20 && mismatches === 10;
        }""",
        timeout=60_000,
    )
    # and the candidate's breaker, in words as well as colour
    plots = page.locator("#route-plots")
    expect(plots.locator('[data-route="products"] .band .badge')).to_have_text(
        "catalog breaker: closed"
    )
    expect(plots.locator('[data-route="orders"] .band .badge')).to_have_text("orders breaker: open")
    assert plots.locator('[data-route="orders"] g.breaker[data-state="open"]').count() >= 1
    assert plots.locator('[data-route="products"] g.breaker[data-state="open"]').count() == 0
    # and each service's outbox lag, as a number and over time
    for service, pending in (("monolith", "2"), ("catalog", "0"), ("orders", "5")):
        row = page.locator(f'#outbox tr[data-service="{service}"]')
        expect(row.locator("td").nth(1)).to_have_text(pending)
        marks = page.locator(f'#outbox-plot svg[data-chart="outbox"] .point[data-side="{service}"]')
        expect(marks.first).to_have_attribute("data-value", pending)
    # and every chart is named for assistive technology
    for chart in page.locator("svg.chart").all():
        assert chart.get_attribute("aria-labelledby")
    screenshot = tmp_path / "control-centre-plots.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"control centre screenshot: {screenshot}")
