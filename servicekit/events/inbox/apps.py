"""The inbox as a reusable Django app."""

from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "servicekit.events.inbox"
    label = "servicekit_inbox"
    verbose_name = "Event inbox"
    default_auto_field = "django.db.models.BigAutoField"
