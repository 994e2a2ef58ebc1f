"""The checkout-start quote asked of a real catalog over REST and over gRPC: a real catalog HTTP
process and its real gRPC server process (catalog-grpc), plus a real slow gRPC server for the
deadline. Same answers, same problem+json, deadlines, the breaker, metadata to the server."""

from __future__ import annotations

import json
import time
from concurrent import futures
from decimal import Decimal

import grpc
import pybreaker
import pytest

from contracts.proto.catalog.v1 import pricing_pb2, pricing_pb2_grpc
from extracted.orders.orders import catalog_gateway
from servicekit.web.errors import InvalidInputError
from servicekit.web.grpc_client import GrpcClient, UpstreamTimeout
from servicekit.web.http_client import make_breaker
from tests.support import fleet
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e
SKUS = ["GQL-0003", "GQL-0000", "NOPE-1", "GQL-0005"]  # GQL-0005 is inactive: not sold
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def catalog_processes(quoting_catalog):
    with fleet.CatalogGrpc(quoting_catalog) as grpc_server:
        yield quoting_catalog, grpc_server


@pytest.fixture
def transport(settings, catalog_processes):
    http, grpc_server = catalog_processes

    def use(name: str, **overrides):
        settings.ORDERS_CATALOG_URL = http.url
        settings.ORDERS_CATALOG_GRPC_TARGET = grpc_server.target
        settings.ORDERS_CATALOG_DEADLINE = 2.0
        for key, value in overrides.items():
            setattr(settings, key, value)
        settings.ORDERS_CATALOG_TRANSPORT = name  # last: the clients are rebuilt on change

    yield use
    catalog_gateway.rest_client.cache_clear()
    catalog_gateway.grpc_client.cache_clear()


def test_grpc_answers_what_rest_answers(transport):
    transport("rest")
    rest = catalog_gateway.catalog_quote(skus=SKUS)
    transport("grpc")
    over_grpc = catalog_gateway.catalog_quote(skus=SKUS)

    assert over_grpc == rest
    assert list(rest.quotes) == ["GQL-0003", "GQL-0000"]
    assert rest.unknown_skus == ("NOPE-1", "GQL-0005")
    assert rest.quotes["GQL-0003"].price == Decimal("4.50")
    assert rest.quotes["GQL-0003"].available == 3
    assert rest.quotes["GQL-0000"].available == 0


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["rest", "grpc"])
def test_the_orders_quote_api_answers_the_same_over_either_transport(transport, customer, name):
    transport(name)
    body = {"lines": [{"sku": "GQL-0003", "quantity": 2}, {"sku": "NOPE-1", "quantity": 1}]}

    answer = customer.post("/api/v1/orders/quote/", body, format="json")

    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "lines": [
            {
                "sku": "GQL-0003",
                "name": "Thing 3",
                "quantity": 2,
                "unit_price": "4.50",
                "currency": "EUR",
                "available": 3,  # 3 on hand, none reserved (builders.catalog_rows)
                "in_stock": True,
                "line_total": "9.00",
            }
        ],
        "unknown_skus": ["NOPE-1"],
        "total": "9.00",
        "ready": False,
    }


@pytest.mark.parametrize(
    "skus",
    [[f"SKU-{n}" for n in range(101)], ["GQL-0000"] * 101],
    ids=["101-skus", "one-sku-101-times"],  # counted as sent on both, as the schema says
)
@pytest.mark.parametrize("name", ["rest", "grpc"])
def test_a_refusal_is_the_same_400_over_either_transport(transport, name, skus):
    transport(name)
    with pytest.raises(InvalidInputError) as refused:
        catalog_gateway.catalog_quote(skus=skus)
    # REST names the field the serializer refused ("sku: ..."), gRPC has no fields
    assert refused.value.message.endswith("Ask for at most 100 SKUs at a time.")


@pytest.mark.parametrize("name", ["rest", "grpc"])
def test_a_sku_longer_than_a_sku_can_be_is_the_same_400_over_either_transport(transport, name):
    transport(name)
    with pytest.raises(InvalidInputError) as refused:
        catalog_gateway.catalog_quote(skus=["GQL-0000", "X" * 33])
    assert refused.value.message.endswith("A SKU has at most 32 characters.")


@pytest.mark.parametrize("name", ["rest", "grpc"])
def test_an_order_of_50_long_skus_in_any_letters_is_quoted(transport, name):
    """50 lines (an order's most) of 32 accented letters: percent-encoded in a query they are
    ~19 KB, over gunicorn's 4094-byte request line; the REST quote sends them in a body."""
    transport(name)
    skus = [f"É{n:02d}".ljust(32, "Ü") for n in range(50)]
    quote = catalog_gateway.catalog_quote(skus=["GQL-0003", *skus])
    assert list(quote.quotes) == ["GQL-0003"]
    assert quote.unknown_skus == tuple(skus)


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["rest", "grpc"])
def test_a_catalog_out_of_reach_is_the_same_problem_and_opens_the_breaker(
    transport, customer, name
):
    # given: nothing listens where the catalog should be
    nowhere = free_port()
    transport(
        name,
        ORDERS_CATALOG_URL=f"http://127.0.0.1:{nowhere}",
        ORDERS_CATALOG_GRPC_TARGET=f"127.0.0.1:{nowhere}",
        ORDERS_CATALOG_DEADLINE=0.5,
    )
    body = {"lines": [{"sku": "GQL-0001", "quantity": 1}]}

    # when: calls fail until the breaker (5 failures) opens
    answers = [customer.post("/api/v1/orders/quote/", body, format="json") for _ in range(6)]

    # then: each is the same 503 problem; once open, it says when to try again
    for answer in answers:
        assert answer.status_code == 503
        assert answer["Content-Type"] == "application/problem+json"
        assert answer.json()["code"] == "catalog_unavailable"
        assert answer.json()["transport"] == name
    breaker = (
        catalog_gateway.grpc_client() if name == "grpc" else catalog_gateway.rest_client()
    ).breaker
    assert breaker.current_state == pybreaker.STATE_OPEN
    assert int(answers[-1]["Retry-After"]) >= 1


class SlowPricing(pricing_pb2_grpc.PricingServicer):
    def QuoteSkus(self, request, context):
        time.sleep(1.0)
        return pricing_pb2.QuoteSkusResponse()


def test_a_deadline_exceeded_is_a_clear_error_and_not_retried():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pricing_pb2_grpc.add_PricingServicer_to_server(SlowPricing(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    client = GrpcClient(
        "catalog",
        target=f"127.0.0.1:{port}",
        deadline=0.2,
        breaker=make_breaker("test-slow", fail_max=5, reset_timeout=30),
    )
    try:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout, match=r"catalog: no answer within the 0.2 s deadline"):
            client.call(
                pricing_pb2_grpc.PricingStub(client.channel).QuoteSkus,
                pricing_pb2.QuoteSkusRequest(skus=["GQL-0001"]),
                idempotent=True,
            )
        assert time.monotonic() - started < 0.9  # one try, cut at the deadline
        assert client.breaker.fail_counter == 1
    finally:
        client.close()
        server.stop(0)


def test_the_request_id_and_traceparent_reach_the_servers_log(transport, catalog_processes):
    _http, grpc_server = catalog_processes
    transport("grpc")

    catalog_gateway.catalog_quote(
        skus=["GQL-0002"], request_id="quote-req-7f3a", traceparent=TRACEPARENT
    )

    calls = [
        json.loads(line)
        for line in grpc_server.output().splitlines()
        if line.startswith("{") and '"grpc_call"' in line
    ]
    ours = [c for c in calls if c.get("request_id") == "quote-req-7f3a"]
    assert ours, grpc_server.output()[-2000:]
    assert ours[0]["traceparent"] == TRACEPARENT
    assert ours[0]["method"] == "/catalog.v1.Pricing/QuoteSkus"
    assert ours[0]["code"] == "OK"
