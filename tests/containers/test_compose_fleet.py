"""docker-compose.yml for real: podman builds the images here and runs the whole fleet.

The walk goes through the composed proxy: storefront, login, an order and its notification, a
route flipped to the catalog service and back, the catalog takeover.
"""

from __future__ import annotations

import pytest

from deploy.podman.smoke import Walk

pytestmark = [pytest.mark.containers, pytest.mark.timeout(1800)]


def test_the_smoke_walk_passes_through_the_composed_proxy(fleet):
    seen = Walk(fleet).run()
    print("\n".join(seen))
    assert len(seen) == 6


def test_every_procfile_process_ran_in_its_own_container(fleet):
    containers = fleet.containers()
    processes = [n for n, s in fleet.compose["services"].items() if s.get("restart") != "no"]
    assert processes and all(containers[n]["State"] == "running" for n in processes), {
        n: containers.get(n, {}).get("State") for n in processes
    }
    one_shots = [n for n, s in fleet.compose["services"].items() if s.get("restart") == "no"]
    assert {"monolith-migrate", "monolith-seed"} <= set(one_shots)
    assert all(containers[n]["ExitCode"] == 0 for n in one_shots)
