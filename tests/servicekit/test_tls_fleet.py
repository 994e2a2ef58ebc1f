"""The mTLS switch (servicekit.web.tls): off changes nothing; on, `make run`'s commands get the
gunicorn flags and each process its certificate name (the live check: tests/proxy/test_mtls.py)."""

from __future__ import annotations

import ssl

from servicekit.web.tls import requests_options, upstream_ssl_context, urllib3_options
from servicekit.web.tls.fleet import fleet_mtls, owner_of

PROCFILE = {
    "proxy": "gunicorn strangler_proxy.wsgi:application --bind 127.0.0.1:${PROXY_PORT:-8000}",
    "catalog": "gunicorn extracted.catalog.wsgi:application --bind 127.0.0.1:${CATALOG_PORT:-8002}",
    "catalog-worker": "celery -A extracted.catalog worker",
}


def test_off_by_default_nothing_changes():
    assert urllib3_options(environ={}) == {}
    assert requests_options(environ={}) == {}
    assert upstream_ssl_context(environ={}).verify_mode == ssl.CERT_REQUIRED


def test_owner_of_a_process_is_its_service():
    assert [owner_of(n) for n in ("catalog-worker", "monolith", "proxy")] == [
        "catalog",
        "monolith",
        "proxy",
    ]


def test_on_the_services_serve_tls_and_every_process_has_its_name(tmp_path):
    env = {
        "STRANGLER_DATA_DIR": str(tmp_path),
        "STRANGLER_MTLS": "on",
        "STRANGLER_CATALOG_URL": "http://127.0.0.1:8002",
        "STRANGLER_PROXY_URL": "http://127.0.0.1:8000",
    }
    commands = fleet_mtls(env, PROCFILE)
    assert env["STRANGLER_CATALOG_URL"] == "https://127.0.0.1:8002"
    assert env["STRANGLER_PROXY_URL"] == "http://127.0.0.1:8000"  # the edge stays as it was
    assert "--cert-reqs 2" in commands["catalog"]
    assert "--ca-certs" not in commands["proxy"] and "--ca-certs" not in commands["catalog-worker"]
    assert commands["catalog-worker"].startswith("env STRANGLER_TLS_NAME=catalog celery")
    assert commands["proxy"].startswith("env STRANGLER_TLS_NAME=proxy gunicorn")
    tls = tmp_path / "tls"
    assert sorted(p.name for p in tls.iterdir()) == ["ca.crt", "ca.key", "catalog.pem", "proxy.pem"]
    assert oct((tls / "ca.key").stat().st_mode & 0o777) == "0o600"
    caller = {**env, "STRANGLER_TLS_NAME": "catalog"}
    assert requests_options(environ=caller) == {
        "cert": (str(tls / "catalog.pem"), str(tls / "catalog.pem")),
        "verify": str(tls / "ca.crt"),
    }
