"""mTLS inside (servicekit.web.tls, docs/mtls.md): one real catalog under gunicorn serving HTTPS
that requires a client certificate from the local CA, the proxy reaching it with its own,
Prometheus scraping it with its own (`make prometheus`'s configuration), and a rotation picked up
by a graceful reload (HUP) with no failed request."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from cryptography.hazmat.primitives.serialization import Encoding

from servicekit.web.tls import (
    ca_cert_path,
    client_context,
    client_files,
    gunicorn_args,
    identity_path,
)
from servicekit.web.tls.ca import ca_finish, ca_rollover, certificate_of, identity_rotate
from strangler_proxy.export.nginx import UpstreamTls
from tests.proxy.conftest import routes_yaml, upstream_spec
from tests.proxy.nginx_plane import NginxPlane
from tests.proxy.processes import ProxyProcess
from tests.support import fleet
from tests.support.packages import debian_binary
from tests.support.processes import free_port, stop_process
from tests.support.tls import local_ca, served_certificate
from tests.support.wait import wait_for

CATALOG_READ = "/api/v1/products/"


def _prometheus_script():
    """scripts/prometheus.py (`make prometheus`), loaded as a module."""
    path = fleet.ROOT / "scripts" / "prometheus.py"
    spec = importlib.util.spec_from_file_location("prometheus_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _get(url: str, context: ssl.SSLContext | None = None) -> urllib3.BaseHTTPResponse:
    """One request on a fresh connection (every call makes its own TLS handshake)."""
    http = urllib3.PoolManager(ssl_context=context) if context else urllib3.PoolManager()
    try:
        return http.request("GET", url, timeout=5.0, retries=False)
    finally:
        http.clear()


def _served_certificate(port: int, context: ssl.SSLContext) -> bytes:
    return served_certificate(port, context).public_bytes(Encoding.DER)


@pytest.fixture(scope="module")
def tls_env(tmp_path_factory) -> dict[str, str]:
    return local_ca(tmp_path_factory.mktemp("mtls"), "catalog", "proxy")


@pytest.fixture(scope="module")
def catalog(tls_env) -> Iterator[fleet.DjangoService]:
    """The catalog under gunicorn with the switch's flags (the ones `make run` adds)."""
    data = Path(tls_env["STRANGLER_DATA_DIR"])
    service = fleet.catalog(data / "catalog", env=tls_env)
    service.data_dir.mkdir(parents=True, exist_ok=True)
    service.run("migrate", "--noinput", "-v", "0")
    service.url = f"https://127.0.0.1:{service.port}"
    log = open(service.log_path, "wb")  # noqa: SIM115 (closed when the module ends)
    service.process = subprocess.Popen(
        [*service.serve_command(service.port), *gunicorn_args("catalog", environ=tls_env)],
        cwd=fleet.ROOT,
        env=service.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    context = client_context("proxy", environ=tls_env)

    def up() -> bool:
        if service.process.poll() is not None:
            raise RuntimeError(f"catalog exited:\n{service.output()[-3000:]}")
        return _get(f"{service.url}/healthz", context).status == 200

    try:
        wait_for(
            up, timeout=60, what="the catalog over mTLS", ignore=(urllib3.exceptions.HTTPError,)
        )
        yield service
    finally:
        stop_process(service.process)
        log.close()


def test_plain_http_is_refused(catalog):
    with pytest.raises(urllib3.exceptions.HTTPError):
        _get(f"http://127.0.0.1:{catalog.port}/healthz")


def test_https_without_a_client_certificate_is_refused(catalog, tls_env):
    context = ssl.create_default_context(cafile=tls_env["STRANGLER_TLS_DIR"] + "/ca.crt")
    with pytest.raises(urllib3.exceptions.HTTPError, match="certificate required"):
        _get(f"{catalog.url}/healthz", context)


def test_a_certificate_from_another_ca_is_refused(catalog, tls_env, tmp_path):
    other = local_ca(tmp_path, "proxy")
    context = ssl.create_default_context(cafile=tls_env["STRANGLER_TLS_DIR"] + "/ca.crt")
    stranger = str(identity_path("proxy", environ=other))
    context.load_cert_chain(stranger, stranger)
    with pytest.raises(urllib3.exceptions.HTTPError, match="unknown ca"):
        _get(f"{catalog.url}/healthz", context)


def test_a_client_certificate_from_the_ca_is_served(catalog, tls_env):
    context = client_context("proxy", environ=tls_env)
    assert _get(f"{catalog.url}/healthz", context).status == 200
    assert _get(f"{catalog.url}{CATALOG_READ}", context).status == 200


def test_the_proxy_reaches_the_service_with_its_client_certificate(catalog, tls_env):
    data = Path(tls_env["STRANGLER_DATA_DIR"])
    routes = data / "routes.yaml"
    routes.write_text(routes_yaml({"monolith": upstream_spec(catalog.url)}, []))
    env = {**tls_env, "STRANGLER_MTLS": "on", "STRANGLER_HEALTH_CHECKS": "false"}
    with ProxyProcess(routes, data_dir=data / "proxy", env=env, workers=1) as proxy:
        response = _get(f"{proxy.url}{CATALOG_READ}")
        assert response.status == 200, (
            response.status,
            response.data[:300],
            proxy.output()[-2000:],
        )
        assert response.json()["results"] is not None


def test_the_nginx_plane_reaches_the_service_with_the_proxys_certificate(catalog, tls_env):
    # given: the table's upstream named after the service (nginx verifies the certificate by
    # that name when the instance is an address: export/nginx.py tls_name)
    data = Path(tls_env["STRANGLER_DATA_DIR"])
    routes = data / "routes-nginx.yaml"
    routes.write_text(routes_yaml({"catalog": upstream_spec(catalog.url)}, [], default="catalog"))
    env = {**tls_env, "STRANGLER_MTLS": "on"}
    files = client_files(environ=env)
    assert files is not None and files[0] == identity_path("proxy", environ=env)
    tls = UpstreamTls(identity=str(files[0]), trusted_ca=str(files[1]))

    # then: with the proxy's certificate nginx is served; without it the service refuses nginx
    with NginxPlane(routes, data / "nginx-mtls", upstream_tls=tls) as plane:
        served = _get(f"{plane.url}{CATALOG_READ}")
        assert served.status == 200, (served.data[:300], plane.error_log()[-2000:])
        assert served.json()["results"] is not None
    with NginxPlane(routes, data / "nginx-plain") as plane:
        refused = _get(f"{plane.url}{CATALOG_READ}")
        assert refused.status == 502
        assert "SSL_do_handshake() failed" in plane.error_log()  # refused without a certificate


def test_the_nginx_plane_refuses_a_service_with_a_certificate_from_another_ca(
    catalog, tls_env, tmp_path
):
    # nginx verifies the upstream: a CA it does not trust is a 502, never a served answer
    local_ca(tmp_path)
    data = Path(tls_env["STRANGLER_DATA_DIR"])
    routes = data / "routes-nginx-other.yaml"
    routes.write_text(routes_yaml({"catalog": upstream_spec(catalog.url)}, [], default="catalog"))
    tls = UpstreamTls(
        identity=str(identity_path("proxy", environ=tls_env)),
        trusted_ca=str(tmp_path / "tls" / "ca.crt"),
    )
    with NginxPlane(routes, tmp_path / "nginx", upstream_tls=tls) as plane:
        assert _get(f"{plane.url}{CATALOG_READ}").status == 502
        assert "upstream SSL certificate verify error" in plane.error_log()


def test_make_prometheus_scrapes_the_services_over_mtls_and_the_proxy_over_http(tmp_path):
    script = _prometheus_script()
    env = {"STRANGLER_TLS_DIR": str(tmp_path), "STRANGLER_MTLS": "on"}

    tls = script.scrape_tls(environ=env)
    config = script.config_for({"catalog": 8002, "proxy": 8000}, tls=tls)

    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["catalog"]["scheme"] == "https"
    assert jobs["catalog"]["tls_config"] == {
        "ca_file": str(tmp_path / "ca.crt"),
        "cert_file": str(tmp_path / "prometheus.pem"),
        "key_file": str(tmp_path / "prometheus.pem"),
        "server_name": "catalog",
    }
    assert (tmp_path / "prometheus.pem").exists()  # issued on the way
    assert "scheme" not in jobs["proxy"] and "tls_config" not in jobs["proxy"]
    assert script.scrape_tls(environ={"STRANGLER_TLS_DIR": str(tmp_path)}) is None


def test_prometheus_scrapes_the_service_with_its_client_certificate(catalog, tls_env, tmp_path):
    debian_binary("prometheus", "prometheus")  # skipped only where it cannot be had (not in CI)
    script = _prometheus_script()
    tls = script.scrape_tls(environ={**tls_env, "STRANGLER_MTLS": "on"})
    config = script.config_for({"catalog": catalog.port}, interval="1s", tls=tls)
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 (closed below)
    process = script.start(config, folder=tmp_path, port=port, stdout=log, stderr=log)

    def target() -> dict | None:
        url = f"http://127.0.0.1:{port}/api/v1/targets"
        with urllib3.PoolManager() as http:
            answer = http.request("GET", url, timeout=5, retries=False)
        if answer.status != 200:  # starting up
            return None
        found = json.loads(answer.data)["data"]["activeTargets"]
        return found[0] if found and found[0]["health"] != "unknown" else None

    try:
        scraped = wait_for(
            target,
            timeout=60,
            what="Prometheus's first scrape",
            ignore=(urllib3.exceptions.HTTPError,),
        )
    finally:
        stop_process(process)
        log.close()
    assert scraped["health"] == "up", (scraped, (tmp_path / "prometheus.log").read_text()[-2000:])
    assert scraped["scrapeUrl"].startswith("https://")


def test_rotation_and_a_graceful_reload_lose_no_request(catalog, tls_env):
    old_client = client_context("proxy", environ=tls_env)
    before = _served_certificate(catalog.port, old_client)
    failures: list[str] = []
    served = 0
    stop = threading.Event()

    def hammer() -> None:
        nonlocal served
        while not stop.is_set():
            try:
                status = _get(f"{catalog.url}/healthz", old_client).status
            except urllib3.exceptions.HTTPError as exc:
                failures.append(repr(exc))
                continue
            if status != 200:
                failures.append(str(status))
            served += 1

    loop = threading.Thread(target=hammer, daemon=True)
    loop.start()
    try:
        time.sleep(0.3)
        new_path, kept = identity_rotate("catalog", environ=tls_env)
        assert kept is not None and kept.exists()
        os.kill(catalog.process.pid, signal.SIGHUP)
        new = certificate_of(new_path).public_bytes(Encoding.DER)
        assert new != before
        wait_for(
            lambda: _served_certificate(catalog.port, old_client) == new,
            timeout=20,
            what="the rotated certificate to be served",
        )
        # the old workers finish and go while requests keep coming (counted, not timed: a busy
        # machine serves fewer in a given time)
        flipped = served
        time.sleep(1.5)
        wait_for(lambda: served >= flipped + 10, timeout=30, what="10 requests after the flip")
    finally:
        stop.set()
        loop.join(10)
    assert failures == [], (failures[:5], catalog.output()[-3000:])
    # the new pair is also a client certificate the CA vouches for
    assert _get(f"{catalog.url}/healthz", client_context("catalog", environ=tls_env)).status == 200
    assert oct(new_path.stat().st_mode & 0o777) == "0o600"


def test_a_ca_rollover_is_served_throughout_with_no_reload(catalog, tls_env, tmp_path):
    """gunicorn's context is built again when a file changed, checked at each new connection
    (servicekit.web.tls.GunicornServerContext): a CA rollover needs no HUP on the server side
    (last in the module: it changes the module's CA)."""
    old_pair = identity_path("proxy", environ=tls_env).read_bytes()

    def served_with(pair: bytes) -> int:
        kept = tmp_path / "kept.pem"  # outside the folder: not a current certificate
        kept.write_bytes(pair)
        context = ssl.create_default_context(cafile=tls_env["STRANGLER_TLS_DIR"] + "/ca.crt")
        context.load_cert_chain(str(kept), str(kept))
        return _get(f"{catalog.url}/healthz", context).status

    # step 1: a new CA signs, both trusted: the old certificates still served
    ca_rollover(environ=tls_env)
    assert served_with(old_pair) == 200
    # step 2: every certificate reissued: the catalog serves its new one at once
    subprocess.run(
        [sys.executable, "-m", "servicekit.web.tls.ca", "rotate", "--all"],
        cwd=fleet.ROOT,
        env={**os.environ, **tls_env},
        check=True,
        capture_output=True,
    )
    new_ca = certificate_of(ca_cert_path(environ=tls_env))
    assert served_certificate(catalog.port, client_context("proxy", environ=tls_env)).issuer == (
        new_ca.subject
    )
    assert served_with(old_pair) == 200  # a caller not yet reloaded
    # step 3: the old CA dropped: its certificates refused, the new ones served
    ca_finish(environ=tls_env)
    with pytest.raises(urllib3.exceptions.HTTPError):
        served_with(old_pair)
    assert _get(f"{catalog.url}/healthz", client_context("proxy", environ=tls_env)).status == 200
