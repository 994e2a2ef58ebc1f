"""Thin gRPC layer of the catalog: catalog.v1.Pricing (contracts/proto/catalog/v1/pricing.proto),
answering from the same selector as the REST quote (`GET` or `POST /api/v1/catalog/quote/`)."""

from __future__ import annotations

import grpc

from contracts.proto.catalog.v1 import pricing_pb2, pricing_pb2_grpc
from extracted.catalog.products import selectors
from servicekit.web.errors import InvalidInputError

SERVICE_NAME = pricing_pb2.DESCRIPTOR.services_by_name["Pricing"].full_name


class PricingServicer(pricing_pb2_grpc.PricingServicer):
    def QuoteSkus(self, request, context):
        try:
            quotes, unknown = selectors.products_quote(skus=list(request.skus))
        except InvalidInputError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)
        return pricing_pb2.QuoteSkusResponse(
            quotes=[
                pricing_pb2.SkuQuote(
                    sku=q.sku,
                    name=q.name,
                    price=f"{q.price:.2f}",
                    currency=q.currency,
                    available=q.available,
                )
                for q in quotes
            ],
            unknown_skus=unknown,
        )


def services() -> list[tuple]:
    """What the catalog's gRPC server serves (servicekit.web.grpc_server.build_server)."""
    return [(pricing_pb2_grpc.add_PricingServicer_to_server, PricingServicer(), SERVICE_NAME)]
