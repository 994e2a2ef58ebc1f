"""Thin HTTP layer: the monolith's notification paths and shapes; the caller's own only."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from extracted.notifications.notifications import selectors, services
from extracted.notifications.notifications.serializers import (
    ExportPageSerializer,
    ExportQuerySerializer,
    MarkedReadOutputSerializer,
    NotificationFilterSerializer,
    NotificationOutputSerializer,
)


class NotificationListApi(generics.GenericAPIView):
    serializer_class = NotificationOutputSerializer
    filter_serializer_class = NotificationFilterSerializer

    @extend_schema(
        parameters=[NotificationFilterSerializer], responses=NotificationOutputSerializer(many=True)
    )
    def get(self, request):
        params = NotificationFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        qs = selectors.notification_list(
            user_id=request.user.id, unread=params.validated_data["unread"]
        )
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(NotificationOutputSerializer(page, many=True).data)


class NotificationReadApi(APIView):
    @extend_schema(request=None, responses=NotificationOutputSerializer)
    def post(self, request, notification_id: int):
        notification = selectors.notification_get(
            user_id=request.user.id, notification_id=notification_id
        )
        if notification is None:
            raise Http404
        return Response(
            NotificationOutputSerializer(
                services.notification_mark_read(notification=notification)
            ).data
        )


class NotificationReadAllApi(APIView):
    @extend_schema(request=None, responses=MarkedReadOutputSerializer)
    def post(self, request):
        return Response(
            {"marked_read": services.notifications_mark_all_read(user_id=request.user.id)}
        )


class NotificationExportApi(APIView):
    """Staff: every user's notifications with their event sequences, as the monolith exports
    them: the monolith's hand-back (`notifications_takeover`) drains it and its reconciliation
    compares with it."""

    permission_classes = [permissions.IsAdminUser]
    filter_serializer_class = ExportQuerySerializer

    @extend_schema(parameters=[ExportQuerySerializer], responses=ExportPageSerializer)
    def get(self, request):
        params = ExportQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        limit = params.validated_data["limit"]
        rows = list(
            selectors.notification_export(after=params.validated_data["after"], limit=limit)
        )
        page = {"notifications": rows, "next_after": rows[-1].pk if len(rows) == limit else None}
        response = Response(ExportPageSerializer(page).data)
        response["Cache-Control"] = "no-store"
        return response
