"""Routes flip between modes by the file and by the CLI under load, with no failed request."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.proxy.conftest import routes_yaml, upstream_spec, write_routes
from tests.proxy.fakes import FakeUpstream
from tests.proxy.processes import ProxyProcess
from tests.support.side_load import SideLoad

pytestmark = pytest.mark.e2e


def test_flips_by_file_and_cli_under_load_fail_no_request(tmp_path):
    monolith, service = FakeUpstream("monolith").start(), FakeUpstream("service").start()
    ups = {"monolith": upstream_spec(monolith.url), "service": upstream_spec(service.url)}
    route = {
        "name": "products",
        "prefix": "/api/v1/products/",
        "mode": "monolith",
        "upstream": "service",
    }
    routes = write_routes(tmp_path / "routes.yaml", routes_yaml(ups, [route]))
    try:
        with ProxyProcess(routes, data_dir=tmp_path) as proxy:
            # the check interval is 0.2 s in every worker
            with SideLoad(f"{proxy.url}/api/v1/products/1/", settle=0.6) as load:
                load.wait_until_all("monolith")
                # by the file
                write_routes(routes, routes_yaml(ups, [{**route, "mode": "extracted"}]))
                load.wait_until_all("service")
                # a bad edit is refused: the last good table stays in force
                routes.write_text(routes.read_text().replace("mode: extracted", "mode: bogus"))
                time.sleep(0.6)
                load.wait_until_all("service")
                # by the CLI, several times, while requests keep coming
                cli = [
                    sys.executable,
                    "-m",
                    "strangler_proxy",
                    "routes",
                    "set",
                    "products",
                    "--file",
                    str(routes),
                ]
                for mode in ("monolith", "extracted", "monolith"):
                    subprocess.run([*cli, "--mode", mode], check=True, capture_output=True)
                    load.wait_until_all("service" if mode == "extracted" else "monolith")
                subprocess.run(
                    [*cli, "--mode", "canary", "--percent", "50"], check=True, capture_output=True
                )
                time.sleep(1.0)
            assert load.failures == [], load.failures[:5]
            assert len(load.seen) > 100
            assert "refused, keeping the last good table" in proxy.output()
    finally:
        monolith.stop()
        service.stop()
