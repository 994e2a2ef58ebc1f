"""The monolith's notification shapes, field for field."""

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from extracted.notifications.notifications.models import Notification
from servicekit.web.ids import id_field


class NotificationOutputSerializer(serializers.ModelSerializer):
    is_read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "order_id", "is_read", "read_at", "created_at"]

    def get_is_read(self, notification) -> bool:
        return notification.read_at is not None


class NotificationFilterSerializer(serializers.Serializer):
    unread = serializers.BooleanField(required=False, allow_null=True, default=None)
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=100)


class MarkedReadOutputSerializer(serializers.Serializer):
    marked_read = serializers.IntegerField()


class ExportNotificationSerializer(serializers.ModelSerializer):
    """The monolith's export row (monolith/notifications/serializers.py), field for field."""

    username = serializers.CharField()
    email = serializers.CharField()
    sequence = serializers.IntegerField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "user_id",
            "username",
            "email",
            "kind",
            "order_id",
            "title",
            "body",
            "read_at",
            "created_at",
            "sequence",
        ]


@extend_schema_serializer(component_name="NotificationExportPage")
class ExportPageSerializer(serializers.Serializer):
    notifications = ExportNotificationSerializer(many=True)
    next_after = serializers.IntegerField(allow_null=True)


class ExportQuerySerializer(serializers.Serializer):
    after = id_field(required=False, default=0, min_value=0)
    limit = serializers.IntegerField(required=False, default=200, min_value=1, max_value=1000)
