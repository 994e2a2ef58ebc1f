"""The checkout quote over gRPC under mTLS (docs/mtls.md): the catalog's real gRPC server process
with `STRANGLER_MTLS=on` refuses a plain call, a call without a certificate and one from another
CA, serves the orders gateway presenting its certificate, and keeps serving through a certificate
rotation and a CA rollover with no restart and no failed call."""

from __future__ import annotations

import threading

import grpc
import pytest

from contracts.proto.catalog.v1 import pricing_pb2, pricing_pb2_grpc
from extracted.orders.orders import catalog_gateway
from servicekit.web.tls import ca_cert_path, client_context, identity_path
from servicekit.web.tls.ca import (
    ca_finish,
    ca_rollover,
    certificate_of,
    identity_rotate,
)
from servicekit.web.tls.grpc_credentials import secure_channel, split_identity
from tests.support import fleet
from tests.support.tls import local_ca, served_certificate
from tests.support.wait import wait_for

pytestmark = pytest.mark.e2e
QUOTE = pricing_pb2.QuoteSkusRequest(skus=["GQL-0001"])


def _quote(channel: grpc.Channel) -> pricing_pb2.QuoteSkusResponse:
    with channel:
        return pricing_pb2_grpc.PricingStub(channel).QuoteSkus(QUOTE, timeout=5)


def _refusal(channel: grpc.Channel) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as refused:
        _quote(channel)
    return refused.value.code()


def _served_issuer(port: int, env: dict[str, str]) -> str:
    """The issuer of the certificate a new connection is served with."""
    context = client_context("orders", environ=env)
    context.check_hostname = False  # the certificate names the service, not the address
    context.set_alpn_protocols(["h2"])
    return served_certificate(port, context).issuer.rfc4514_string()


@pytest.fixture(scope="module")
def tls_env(tmp_path_factory) -> dict[str, str]:
    return local_ca(tmp_path_factory.mktemp("grpc-mtls"), "catalog", "orders")


@pytest.fixture(scope="module")
def grpc_server(quoting_catalog, tls_env):
    """The catalog's gRPC server under mTLS, beside the package's real catalog (its database)."""
    env = {"STRANGLER_MTLS": "on", "STRANGLER_TLS_DIR": tls_env["STRANGLER_TLS_DIR"]}
    with fleet.CatalogGrpc(quoting_catalog, env=env) as server:
        yield server


def test_a_plain_call_is_refused(grpc_server):
    assert _refusal(grpc.insecure_channel(grpc_server.target)) == grpc.StatusCode.UNAVAILABLE


def test_tls_without_a_client_certificate_is_refused(grpc_server, tls_env):
    credentials = grpc.ssl_channel_credentials(ca_cert_path(environ=tls_env).read_bytes())
    channel = grpc.secure_channel(grpc_server.target, credentials)
    assert _refusal(channel) == grpc.StatusCode.UNAVAILABLE


def test_a_certificate_from_another_ca_is_refused(grpc_server, tls_env, tmp_path):
    other = local_ca(tmp_path, "orders")
    key, chain = split_identity(identity_path("orders", environ=other).read_bytes())
    credentials = grpc.ssl_channel_credentials(
        ca_cert_path(environ=tls_env).read_bytes(), private_key=key, certificate_chain=chain
    )
    channel = grpc.secure_channel(grpc_server.target, credentials)
    assert _refusal(channel) == grpc.StatusCode.UNAVAILABLE


def test_the_orders_gateway_is_served_with_its_certificate(
    grpc_server, tls_env, settings, monkeypatch
):
    # given: the orders process as `STRANGLER_MTLS=on make run` starts it
    for key, value in {**tls_env, "STRANGLER_MTLS": "on", "STRANGLER_TLS_NAME": "orders"}.items():
        monkeypatch.setenv(key, value)
    settings.ORDERS_CATALOG_GRPC_TARGET = grpc_server.target
    settings.ORDERS_CATALOG_TRANSPORT = "grpc"
    try:
        quote = catalog_gateway.catalog_quote(skus=["GQL-0001", "NOPE-1"])
    finally:
        catalog_gateway.grpc_client.cache_clear()

    assert list(quote.quotes) == ["GQL-0001"]
    assert quote.unknown_skus == ("NOPE-1",)
    assert '"mtls": true' in grpc_server.output()


def test_rotation_and_a_ca_rollover_lose_no_call(grpc_server, tls_env):
    # given: calls in a loop, each on a new connection with the files as they are then (a
    # caller reloaded at that moment), and one channel kept open from the start
    failures: list[str] = []
    served = 0
    stop = threading.Event()
    kept_open = secure_channel(
        grpc_server.target, server_name="catalog", name="orders", environ=tls_env
    )
    kept_stub = pricing_pb2_grpc.PricingStub(kept_open)

    def hammer() -> None:
        nonlocal served
        while not stop.is_set():
            channel = secure_channel(
                grpc_server.target, server_name="catalog", name="orders", environ=tls_env
            )
            try:
                _quote(channel)
                kept_stub.QuoteSkus(QUOTE, timeout=5)
                served += 1
            except grpc.RpcError as exc:
                failures.append(f"{exc.code()}: {exc.details()}")

    def served_more(than: int) -> None:
        wait_for(lambda: served > than + 3, timeout=20, what="calls after the step")

    port = int(grpc_server.target.rsplit(":", 1)[1])
    first_issuer = _served_issuer(port, tls_env)
    old_orders = identity_path("orders", environ=tls_env)
    old_pair = old_orders.read_bytes()
    loop = threading.Thread(target=hammer, daemon=True)
    loop.start()
    try:
        served_more(0)
        # when: the catalog's certificate is rotated (no restart, no signal)
        before = certificate_of(identity_path("catalog", environ=tls_env)).serial_number
        identity_rotate("catalog", environ=tls_env)
        assert certificate_of(identity_path("catalog", environ=tls_env)).serial_number != before
        served_more(served)
        # and the CA is rolled over: both trusted, every certificate reissued, the old dropped
        ca_rollover(environ=tls_env)
        served_more(served)
        identity_rotate("catalog", environ=tls_env)
        identity_rotate("orders", environ=tls_env)
        served_more(served)
        wait_for(
            lambda: _served_issuer(port, tls_env) != first_issuer,
            timeout=20,
            what="the certificate from the new CA to be served",
        )
        ca_finish(environ=tls_env)
        served_more(served)
    finally:
        stop.set()
        loop.join(10)
        kept_open.close()

    # then: no call failed; the old CA's certificates are refused from now on
    assert failures == [], failures[:5]
    key, chain = split_identity(old_pair)
    stale = grpc.ssl_channel_credentials(
        ca_cert_path(environ=tls_env).read_bytes(), private_key=key, certificate_chain=chain
    )
    channel = grpc.secure_channel(
        grpc_server.target, stale, options=[("grpc.ssl_target_name_override", "catalog")]
    )
    assert _refusal(channel) == grpc.StatusCode.UNAVAILABLE
