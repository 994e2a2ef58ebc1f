"""The monolith's notification shapes, field for field."""

from rest_framework import serializers

from extracted.notifications.notifications.models import Notification


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
