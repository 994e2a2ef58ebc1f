"""The compose fleet, built and started with podman once for the whole suite, torn down after.

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
    with compose_fleet(project="strangler-test") as running:
        yield running
