"""The catalog's current prices and stock, asked synchronously when a checkout starts.

One call, two transports, chosen by `ORDERS_CATALOG_TRANSPORT`: REST (`POST
/api/v1/catalog/quote/` with `{"sku": [...]}` through servicekit's ServiceClient) or gRPC
(catalog.v1.Pricing/QuoteSkus, contracts/proto/catalog/v1/pricing.proto, through servicekit's
GrpcClient). Both are
idempotent reads, retried with the one backoff behind a breaker of their own, carry the request
id and trace context, and answer the same `CatalogQuote`; every failure is the same
`CatalogUnavailable` (a 503 problem+json), a refusal the same `InvalidInputError` (a 400).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pybreaker
import structlog
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from contracts.proto.catalog.v1 import pricing_pb2, pricing_pb2_grpc
from servicekit.web.discovery.registry import StaticRegistry
from servicekit.web.errors import InvalidInputError, UnavailableError
from servicekit.web.grpc_client import GrpcClient, UpstreamRefused, call_metadata
from servicekit.web.http_client import (
    ServiceClient,
    UpstreamError,
    breaker_retry_after,
    make_breaker,
)
from servicekit.web.tls import grpc_credentials

log = structlog.get_logger(__name__)

SERVICE = "catalog"
ATTEMPTS = 3
UNAVAILABLE = "The catalog cannot price this basket right now; try again shortly."


class CatalogUnavailable(UnavailableError):
    code = "catalog_unavailable"


@dataclass(frozen=True)
class SkuQuote:
    sku: str
    name: str
    price: Decimal
    currency: str
    available: int


@dataclass(frozen=True)
class CatalogQuote:
    quotes: dict[str, SkuQuote]
    unknown_skus: tuple[str, ...]


def catalog_quote(
    *, skus: list[str], request_id: str | None = None, traceparent: str | None = None
) -> CatalogQuote:
    """The catalog's quote for `skus`, over the configured transport."""
    transport = settings.ORDERS_CATALOG_TRANSPORT
    call = _quote_grpc if transport == "grpc" else _quote_rest
    breaker = grpc_client().breaker if transport == "grpc" else rest_client().breaker
    try:
        return call(skus=skus, request_id=request_id, traceparent=traceparent)
    except pybreaker.CircuitBreakerError as exc:
        error = CatalogUnavailable(UNAVAILABLE, details={"transport": transport})
        error.retry_after = breaker_retry_after(breaker)
        raise error from exc
    except UpstreamError as exc:
        log.warning("catalog_quote_failed", transport=transport, error=str(exc))
        raise CatalogUnavailable(UNAVAILABLE, details={"transport": transport}) from exc


# --- REST ---------------------------------------------------------------------------------------


@functools.cache
def rest_client() -> ServiceClient:
    """One per process (it holds the pool and the breaker), built on first use."""
    return ServiceClient(
        SERVICE,
        registry=StaticRegistry({SERVICE: [settings.ORDERS_CATALOG_URL]}),
        connect_timeout=settings.ORDERS_CATALOG_DEADLINE,
        read_timeout=settings.ORDERS_CATALOG_DEADLINE,
        attempts=ATTEMPTS,
        breaker=make_breaker("orders-catalog-rest", fail_max=5, reset_timeout=30),
    )


def _quote_rest(*, skus: list[str], request_id: str | None, traceparent: str | None):
    # the same names as the gRPC metadata (HTTP header names are case-insensitive)
    context = call_metadata(request_id=request_id, traceparent=traceparent)
    headers = {"Accept": "application/json", **dict(context)}
    # POST: an order's SKUs (up to 50 of 32 characters, any letters) need not fit a request
    # line; the quote only reads, so it is retried like a GET.
    response = rest_client().post(
        "/api/v1/catalog/quote/", json={"sku": skus}, headers=headers, retry=True
    )
    if response.status == 400:
        raise InvalidInputError(_detail(response), code="invalid_quote")
    if response.status != 200:
        raise UpstreamError(f"{SERVICE}: answered {response.status}")
    data = response.json()
    return _quote(
        [
            SkuQuote(
                sku=q["sku"],
                name=q["name"],
                price=Decimal(q["price"]),
                currency=q["currency"],
                available=int(q["available"]),
            )
            for q in data["quotes"]
        ],
        data["unknown_skus"],
    )


def _detail(response) -> str:
    try:
        return str(response.json().get("detail") or UNAVAILABLE)
    except (ValueError, AttributeError):
        return UNAVAILABLE


# --- gRPC ---------------------------------------------------------------------------------------


@functools.cache
def grpc_client() -> GrpcClient:
    """Under mTLS the channel presents the orders certificate and expects the catalog's."""
    target = settings.ORDERS_CATALOG_GRPC_TARGET
    return GrpcClient(
        SERVICE,
        target=target,
        channel=grpc_credentials.channel(target, server_name=SERVICE, default_name="orders"),
        deadline=settings.ORDERS_CATALOG_DEADLINE,
        attempts=ATTEMPTS,
        breaker=make_breaker("orders-catalog-grpc", fail_max=5, reset_timeout=30),
    )


def _quote_grpc(*, skus: list[str], request_id: str | None, traceparent: str | None):
    client = grpc_client()
    try:
        answer = client.call(
            pricing_pb2_grpc.PricingStub(client.channel).QuoteSkus,
            pricing_pb2.QuoteSkusRequest(skus=skus),
            idempotent=True,
            request_id=request_id,
            traceparent=traceparent,
        )
    except UpstreamRefused as exc:
        raise InvalidInputError(exc.details, code="invalid_quote") from exc
    return _quote(
        [
            SkuQuote(
                sku=q.sku,
                name=q.name,
                price=Decimal(q.price),
                currency=q.currency,
                available=q.available,
            )
            for q in answer.quotes
        ],
        answer.unknown_skus,
    )


def _quote(quotes: list[SkuQuote], unknown: Any) -> CatalogQuote:
    return CatalogQuote(quotes={q.sku: q for q in quotes}, unknown_skus=tuple(unknown))


@receiver(setting_changed)
def _reset(*, setting: str, **_kwargs: Any) -> None:
    if setting.startswith("ORDERS_CATALOG_"):
        for cached in (rest_client, grpc_client):
            if cached.cache_info().currsize:
                if cached is grpc_client:
                    grpc_client().close()
                cached.cache_clear()
