from django.contrib import admin

from monolith.notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "kind", "order_id", "read_at", "created_at")
    list_filter = ("kind",)
