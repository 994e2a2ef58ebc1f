"""The control centre on what `make run` starts, in a real browser: every service's outbox lag.

The five services' own /metrics, found from the proxy's routes, appear as a number, an age and a
line on the plot of the shared fleet (tests/e2e/conftest.py), which samples every half second.
"""

from __future__ import annotations

import re

import pytest

from tests.support.browser import control_centre_login

pytestmark = pytest.mark.e2e


def test_every_service_of_the_real_fleet_shows_its_outbox_lag(shop_fleet, browser, tmp_path):
    from playwright.sync_api import expect

    page = control_centre_login(browser, shop_fleet["PROXY"], "staff", "staff-demo-pass")
    for service in ("monolith", "catalog", "notifications", "orders", "users"):
        row = page.locator(f'#outbox tr[data-service="{service}"]')
        expect(row.locator("td").nth(1)).to_have_text(re.compile(r"^\d+(\.\d+)?$"))
        expect(row.locator("td").nth(2)).to_have_text(re.compile(r"^\d+\.\d s$"))
        line = page.locator(f'#outbox-plot .point[data-side="{service}"]')
        expect(line.first).to_have_attribute("data-value", re.compile(r"^\d+(\.\d+)?$"))
    screenshot = tmp_path / "control-centre-fleet.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"control centre screenshot: {screenshot}")
