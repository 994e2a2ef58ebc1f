"""The compose fleet, built and started with podman once for the whole suite, torn down after.

It runs under the mTLS switch (`STRANGLER_MTLS=on docker compose up`): the suite runs once in
`make test` (its tests are not `integration`), a second whole fleet for the switch off would add
about as much again, and the switched-on fleet runs everything the plain one does (the same
containers, commands and walk) with TLS between them. What differs when it is off (no gunicorn
TLS flags, http URLs) is checked without containers in tests/infra/test_compose_mtls.py, and
`make containers` runs it off. `STRANGLER_CONTAINERS_MTLS=off` runs this suite off.

Where podman cannot run, the suite is skipped with the reason; with CI=true it fails instead.
"""

from __future__ import annotations

import os

import pytest

from deploy.podman import engine
from deploy.podman.fleet import compose_fleet


@pytest.fixture(scope="session")
def fleet():
    reason = engine.why_unavailable()
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the container stage must run in CI: {reason}")
        pytest.skip(f"podman cannot run here: {reason}")
    mtls = os.environ.get("STRANGLER_CONTAINERS_MTLS", "on") != "off"
    with compose_fleet(project="strangler-test", mtls=mtls) as running:
        yield running
