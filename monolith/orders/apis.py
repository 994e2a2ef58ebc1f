"""Thin HTTP layer of orders."""

import re

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from monolith.orders import selectors, services
from monolith.orders.serializers import (
    IDEMPOTENCY_KEY_PATTERN,
    OrderCancelInputSerializer,
    OrderExportPageSerializer,
    OrderExportQuerySerializer,
    OrderFilterSerializer,
    OrderOutputSerializer,
    OrderPlaceInputSerializer,
    OrderStatusInputSerializer,
)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Makes a retried POST safe: the same key and body return the first order.",
)


def _idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not re.match(IDEMPOTENCY_KEY_PATTERN, key):
        raise ValidationError({"Idempotency-Key": ["Must be 1 to 255 visible ASCII characters."]})
    return key


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
        params = OrderFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        orders = selectors.order_list(
            user=request.user,
            customer_id=params.validated_data.get("customer"),
            status=params.validated_data.get("status"),
        )
        page = self.paginate_queryset(orders)
        return self.get_paginated_response(OrderOutputSerializer(page, many=True).data)

    @extend_schema(
        request=OrderPlaceInputSerializer,
        responses={201: OrderOutputSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        description="Checks and takes stock in one transaction; 409 `insufficient_stock` names "
        "each short sku. A replay with the same Idempotency-Key answers with the first order "
        "and `Idempotent-Replayed: true`.",
    )
    def post(self, request):
        key = _idempotency_key(request)
        serializer = OrderPlaceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lines = [services.OrderLineIn(**line) for line in serializer.validated_data["lines"]]
        order, created = services.order_place(
            customer=request.user, lines=lines, idempotency_key=key
        )
        order = selectors.order_get(user=request.user, order_id=order.pk)
        response = Response(OrderOutputSerializer(order).data, status=status.HTTP_201_CREATED)
        response["Location"] = f"/api/v1/orders/{order.pk}/"
        if not created:
            response["Idempotent-Replayed"] = "true"
        return response


class OrderDetailApi(APIView):
    @extend_schema(responses=OrderOutputSerializer)
    def get(self, request, order_id: int):
        return Response(OrderOutputSerializer(_order_or_404(request, order_id)).data)


class OrderCancelApi(APIView):
    """The customer (or staff) cancels; stock goes back on the shelf."""

    @extend_schema(request=OrderCancelInputSerializer, responses=OrderOutputSerializer)
    def post(self, request, order_id: int):
        order = _order_or_404(request, order_id)
        serializer = OrderCancelInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.order_cancel(order=order, reason=serializer.validated_data["reason"])
        return Response(OrderOutputSerializer(_order_or_404(request, order_id)).data)


class OrderStatusApi(APIView):
    """Staff move an order along: confirmed, shipped, delivered or cancelled."""

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(request=OrderStatusInputSerializer, responses=OrderOutputSerializer)
    def post(self, request, order_id: int):
        order = _order_or_404(request, order_id)
        serializer = OrderStatusInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.order_set_status(order=order, **serializer.validated_data)
        return Response(OrderOutputSerializer(_order_or_404(request, order_id)).data)


class OrderExportApi(APIView):
    """Staff: orders as snapshots with event sequences and idempotency keys, for the orders
    service's backfill and takeover (migrations_plan/ chapter 07)."""

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
