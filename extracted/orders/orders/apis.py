"""Thin HTTP layer of the orders service (the monolith's paths and shapes)."""

import re
import time

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from extracted.orders.history import selectors as history
from extracted.orders.orders import selectors, services
from extracted.orders.orders.models import OrderStatus
from extracted.orders.orders.serializers import (
    IDEMPOTENCY_KEY_PATTERN,
    HistoryOutputSerializer,
    OrderCancelInputSerializer,
    OrderExportPageSerializer,
    OrderExportQuerySerializer,
    OrderFilterSerializer,
    OrderOutputSerializer,
    OrderPlaceInputSerializer,
    OrderStatusInputSerializer,
    QuoteOutputSerializer,
)
from extracted.orders.payments.provider import parse_behaviour

MAX_WAIT_SECONDS = 10.0
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait=(\d+(?:\.\d+)?)")

HEADERS = [
    OpenApiParameter(
        "Idempotency-Key",
        str,
        OpenApiParameter.HEADER,
        description="Makes a retried POST safe: the same key and body return the first order "
        "(also one placed in the monolith before the split).",
    ),
    OpenApiParameter(
        "Prefer",
        str,
        OpenApiParameter.HEADER,
        description="`wait=N` (at most 10): answer once the checkout settled (confirmed or "
        "cancelled) or after N seconds, whichever comes first.",
    ),
]


def _idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not re.match(IDEMPOTENCY_KEY_PATTERN, key):
        raise ValidationError({"Idempotency-Key": ["Must be 1 to 255 visible ASCII characters."]})
    return key


def _payment_behaviour(request) -> str:
    raw = request.headers.get("X-Fake-Payment", "")
    if not raw or not settings.FAKE_PAYMENT_TEST_HOOKS:
        return ""
    try:
        parse_behaviour(raw)
    except ValueError as exc:
        raise ValidationError({"X-Fake-Payment": [str(exc)]}) from None
    return raw


def _wait_seconds(request) -> float:
    match = _PREFER_WAIT.search(request.headers.get("Prefer", ""))
    return min(float(match.group(1)), MAX_WAIT_SECONDS) if match else 0.0


def _order_or_404(request, order_id: int):
    order = selectors.order_get(user=request.user, order_id=order_id)
    if order is None:
        raise Http404
    return order


class OrderListPlaceApi(generics.GenericAPIView):
    serializer_class = OrderOutputSerializer
    filter_serializer_class = OrderFilterSerializer

    @extend_schema(parameters=[OrderFilterSerializer], responses=OrderOutputSerializer(many=True))
    def get(self, request):
        """From the history read model (built from order events; may trail a write briefly)."""
        params = OrderFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows = history.history_list(
            user=request.user,
            customer_id=params.validated_data.get("customer"),
            status=params.validated_data.get("status"),
        )
        page = self.paginate_queryset(rows)
        data = HistoryOutputSerializer([history.history_as_api(r) for r in page], many=True).data
        return self.get_paginated_response(data)

    @extend_schema(
        request=OrderPlaceInputSerializer,
        responses={201: OrderOutputSerializer},
        parameters=HEADERS,
        description="201 with the order `pending` and a Location to poll while the checkout "
        "saga runs (reserve stock, take payment, confirm); it ends `confirmed` or `cancelled`. "
        "Unknown products are a 400 and an obvious shortage a 409 `insufficient_stock`, at once.",
    )
    def post(self, request):
        key = _idempotency_key(request)
        serializer = OrderPlaceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lines = [services.OrderLineIn(**line) for line in serializer.validated_data["lines"]]
        order, created = services.order_place(
            customer_id=request.user.pk,
            lines=lines,
            idempotency_key=key,
            payment_behaviour=_payment_behaviour(request),
        )
        wait = _wait_seconds(request)
        deadline = time.monotonic() + wait
        order = _order_or_404(request, order.pk)
        while order.status == OrderStatus.PENDING and time.monotonic() < deadline:
            time.sleep(0.05)
            order = _order_or_404(request, order.pk)
        response = Response(OrderOutputSerializer(order).data, status=status.HTTP_201_CREATED)
        response["Location"] = f"/api/v1/orders/{order.pk}/"
        if wait:
            response["Preference-Applied"] = f"wait={wait:g}"
        if not created:
            response["Idempotent-Replayed"] = "true"
        return response


class OrderDetailApi(APIView):
    @extend_schema(responses=OrderOutputSerializer)
    def get(self, request, order_id: int):
        return Response(OrderOutputSerializer(_order_or_404(request, order_id)).data)


class OrderCancelApi(APIView):
    """The customer (or staff) cancels; refund and restock follow (the saga compensates)."""

    @extend_schema(request=OrderCancelInputSerializer, responses=OrderOutputSerializer)
    def post(self, request, order_id: int):
        order = _order_or_404(request, order_id)
        serializer = OrderCancelInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.order_cancel(order=order, reason=serializer.validated_data["reason"])
        return Response(OrderOutputSerializer(_order_or_404(request, order_id)).data)


class OrderStatusApi(APIView):
    """Staff move an order along: shipped, delivered or cancelled (the saga confirms)."""

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(request=OrderStatusInputSerializer, responses=OrderOutputSerializer)
    def post(self, request, order_id: int):
        order = _order_or_404(request, order_id)
        serializer = OrderStatusInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.order_set_status(order=order, **serializer.validated_data)
        return Response(OrderOutputSerializer(_order_or_404(request, order_id)).data)


class OrderExportApi(APIView):
    """Staff: orders as snapshots with event sequences, idempotency keys and any checkout still
    running, for the monolith taking orders back (migrations_plan/ chapter 07, rollback)."""

    permission_classes = [permissions.IsAdminUser]
    filter_serializer_class = OrderExportQuerySerializer

    @extend_schema(parameters=[OrderExportQuerySerializer], responses=OrderExportPageSerializer)
    def get(self, request):
        params = OrderExportQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        limit = params.validated_data["limit"]
        orders = list(selectors.order_export(after=params.validated_data["after"], limit=limit))
        page = {
            "orders": orders,
            "next_after": str(orders[-1].pk) if len(orders) == limit else None,
        }
        return Response(OrderExportPageSerializer(page).data)


class OrderQuoteApi(APIView):
    """Checkout start: the basket at the catalog's current prices and stock, asked of the catalog
    service synchronously (REST or gRPC, per ORDERS_CATALOG_TRANSPORT). Places nothing."""

    @extend_schema(
        request=OrderPlaceInputSerializer,
        responses=QuoteOutputSerializer,
        description="503 `catalog_unavailable` (with Retry-After when the breaker is open) "
        "when the catalog cannot answer in time, on either transport.",
    )
    def post(self, request):
        serializer = OrderPlaceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        quantities = services.quantities_of(
            [services.OrderLineIn(**line) for line in serializer.validated_data["lines"]]
        )
        quote = selectors.checkout_quote(
            quantities=quantities,
            request_id=getattr(request, "request_id", None),
            traceparent=request.headers.get("traceparent"),
        )
        return Response(QuoteOutputSerializer(quote).data)
