"""Fixtures for the migration-control suite (lifecycle, inventory, capture, control centre)."""

from __future__ import annotations

from tests.proxy.conftest import (  # noqa: F401  (fixtures shared with the proxy suite)
    jwks_server,
    make_proxy,
    make_token,
    proxy_config,
    signing_key,
    start_upstream,
)
from tests.support.browser import browser, chromium  # noqa: F401  (fixtures)
