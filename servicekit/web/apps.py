"""Installed in every service with a database: refuses another service's database in `migrate`."""

from django.apps import AppConfig


class ServicekitWebConfig(AppConfig):
    name = "servicekit.web"
    label = "servicekit_web"
    verbose_name = "Service plumbing"

    def ready(self) -> None:
        from django.core import checks
        from django.db.models.signals import pre_migrate

        from servicekit.web.databases import check_own_database, refuse_foreign_before_migrate

        checks.register(check_own_database, checks.Tags.database)
        pre_migrate.connect(refuse_foreign_before_migrate, dispatch_uid="servicekit-own-database")
