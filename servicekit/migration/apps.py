"""Installed so `manage.py reconcile` exists in every service (no models)."""

from django.apps import AppConfig


class MigrationConfig(AppConfig):
    name = "servicekit.migration"
    label = "servicekit_migration"
