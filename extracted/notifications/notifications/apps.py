from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "extracted.notifications.notifications"
    label = "notifications"
