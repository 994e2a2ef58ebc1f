"""Debian's chromium driven by Playwright, for the suites that test pages in a real browser.

Fixtures (import them into a test module or conftest): `chromium`, installed from Debian's
package when missing (never Playwright's own download), and `browser`, one headless chromium
per test. `control_centre_login` opens the control centre and logs in as the given user.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags chromium's calls home are refused, many at a time,
# by this machine's closed network.
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


def control_centre_login(browser, proxy_url: str, username: str, password: str):
    """A page on the control centre (/_strangler/ui/) after its login form was sent."""
    page = browser.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{proxy_url}/_strangler/ui/")
    page.fill("#login-form input[name=username]", username)
    page.fill("#login-form input[name=password]", password)
    page.click("#login-form button[type=submit]")
    return page
