"""The mTLS switch (servicekit.web.tls): off changes nothing; on, `make run`'s commands get the
gunicorn flags and each process its certificate name (the live check: tests/proxy/test_mtls.py)."""

from __future__ import annotations

import ssl

import pytest
from cryptography import x509

from servicekit.web.tls import (
    ca_cert_path,
    identity_path,
    requests_session,
    upstream_ssl_context,
    urllib3_options,
)
from servicekit.web.tls.ca import (
    ca_finish,
    ca_rollover,
    certificate_of,
    identity_rotate,
)
from servicekit.web.tls.ca import main as ca_main
from servicekit.web.tls.fleet import fleet_mtls, owner_of
from servicekit.web.tls.grpc_credentials import split_identity
from tests.support.tls import local_ca

PROCFILE = {
    "proxy": "gunicorn strangler_proxy.wsgi:application --bind 127.0.0.1:${PROXY_PORT:-8000}",
    "catalog": "gunicorn extracted.catalog.wsgi:application --bind 127.0.0.1:${CATALOG_PORT:-8002}",
    "catalog-worker": "celery -A extracted.catalog worker",
}


def test_off_by_default_nothing_changes():
    assert urllib3_options(environ={}) == {}
    plain = requests_session(environ={})
    assert plain.verify is True and plain.cert is None
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
    session = requests_session(environ=caller)
    assert session.verify == str(tls / "ca.crt")
    assert session.cert is None  # the pair is in the adapter's context, loaded once
    context = session.get_adapter("https://127.0.0.1:8002").poolmanager.connection_pool_kw[
        "ssl_context"
    ]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_a_ca_rollover_trusts_both_until_finished_and_finish_waits_for_every_certificate(
    tmp_path, monkeypatch
):
    # given: a CA and two certificates from it
    env = local_ca(tmp_path, "catalog", "orders")
    old_ca = certificate_of(ca_cert_path(environ=env))

    # when: rolled over, the bundle is the new CA then the old one, and the new CA signs
    ca_rollover(environ=env)
    bundle = x509.load_pem_x509_certificates(ca_cert_path(environ=env).read_bytes())
    assert [c.subject for c in bundle][1:] == [old_ca.subject]
    assert bundle[0].subject != old_ca.subject
    identity_rotate("catalog", environ=env)
    assert certificate_of(identity_path("catalog", environ=env)).issuer == bundle[0].subject

    # then: finish refuses while orders is still from the old CA, then keeps the new CA only
    with pytest.raises(SystemExit, match="still signed by an old CA: orders"):
        ca_finish(environ=env)
    monkeypatch.setenv("STRANGLER_TLS_DIR", env["STRANGLER_TLS_DIR"])
    assert ca_main(["rotate", "--all"]) == 0
    ca_finish(environ=env)
    assert x509.load_pem_x509_certificates(ca_cert_path(environ=env).read_bytes()) == bundle[:1]
    assert len(list((tmp_path / "tls").glob("ca.*.key"))) == 1  # the old key kept beside the new


def test_an_identity_file_splits_into_its_key_and_its_certificate(tmp_path):
    env = local_ca(tmp_path, "catalog")
    key, chain = split_identity(identity_path("catalog", environ=env).read_bytes())
    assert key.startswith(b"-----BEGIN PRIVATE KEY-----") and key.endswith(b"-----\n")
    assert (
        x509.load_pem_x509_certificate(chain).subject
        == certificate_of(identity_path("catalog", environ=env)).subject
    )
    with pytest.raises(ValueError, match="one private key and its certificate"):
        split_identity(chain)
