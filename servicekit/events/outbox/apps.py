"""The transactional outbox as a reusable Django app."""

from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "servicekit.events.outbox"
    label = "servicekit_outbox"
    verbose_name = "Event outbox"
    default_auto_field = "django.db.models.BigAutoField"
