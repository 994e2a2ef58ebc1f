"""`make run` with the nginx plane in front (scripts/run.py `--plane nginx`, STRANGLER_PLANE):
nginx answers on the proxy's port from the exported live table, the Python proxy moves behind it
(control centre, admin API, comparator), and a flip through the admin API reloads nginx."""

from __future__ import annotations

import json

import pytest
import urllib3

from tests.support.fleet import procfile_fleet
from tests.support.processes import free_port
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e

TOKEN = "run-plane-admin-token-0123456789"
pool = urllib3.PoolManager(retries=False, timeout=10)


@pytest.mark.parametrize("mtls", ["off", "on"])
def test_make_run_puts_nginx_in_front_and_flips_reload_it(tmp_path, mtls):
    python_port = free_port()
    env = {
        "STRANGLER_PLANE": "nginx",
        "STRANGLER_PYTHON_PROXY_PORT": str(python_port),
        "STRANGLER_ADMIN_TOKEN": TOKEN,
        "STRANGLER_MTLS": mtls,
    }
    # only the proxy: nginx's answers name their side in its access log, no service needed
    with procfile_fleet(tmp_path, env=env, only=["proxy"]) as fleet:
        behind = f"http://127.0.0.1:{python_port}"
        access_log = tmp_path / "nginx" / "access.log"

        def served(path: str) -> dict:
            response = pool.request("GET", fleet["PROXY"] + path)
            assert response.headers["Server"] == "nginx"  # not gunicorn: nginx is in front
            assert response.headers["Content-Type"] == "application/problem+json"  # 502
            rid = response.headers["X-Request-ID"]

            def logged() -> dict | None:  # nginx logs after it answered
                lines = [json.loads(line) for line in access_log.read_text().splitlines()]
                return next((line for line in lines if line["request_id"] == rid), None)

            return wait_for(
                logged,
                timeout=10,
                interval=0.05,
                ignore=(FileNotFoundError,),
                what=f"{rid} in access.log",
            )

        # the Python proxy serves its own paths behind nginx, and directly on its new port
        assert pool.request("GET", behind + "/_strangler/healthz").status == 200
        before = served("/api/v1/products/")
        assert (before["route"], before["side"]) == ("catalog-products-read", "primary")

        flipped = pool.request(
            "PATCH",
            fleet["PROXY"] + "/_strangler/routes/catalog-products-read",
            body=json.dumps({"mode": "extracted"}),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        assert flipped.status == 200, flipped.data

        # regenerated and reloaded gracefully: nginx now sends the route to the candidate
        after = wait_for(
            lambda: (line := served("/api/v1/products/"))["side"] == "candidate" and line,
            timeout=30,
            interval=0.2,
            what="nginx reloaded with the flipped route",
        )
        assert after["route"] == "catalog-products-read"

        # with mTLS on, the configuration the flip regenerated has nginx present the proxy's
        # certificate to https upstreams (served for real: tests/proxy/test_mtls.py)
        conf = (tmp_path / "nginx" / "nginx.conf").read_text()
        with_tls = f'proxy_ssl_certificate "{tmp_path / "tls" / "proxy.pem"}";' in conf
        assert with_tls == (mtls == "on")
