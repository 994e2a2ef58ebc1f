"""`manage.py outbox_cleanup`: delete sent rows older than the retention (never pending/dead)."""

from django.core.management.base import BaseCommand

from servicekit.events.outbox.services import outbox_cleanup
from servicekit.events.settings import events_settings


class Command(BaseCommand):
    help = "Delete outbox rows sent longer ago than SERVICEKIT_EVENTS['RETENTION_SECONDS']."

    def add_arguments(self, parser):
        parser.add_argument("--retention-seconds", type=float, default=None)

    def handle(self, *args, **options):
        retention = options["retention_seconds"]
        if retention is None:
            retention = events_settings().RETENTION_SECONDS
        deleted = outbox_cleanup(retention_seconds=retention)
        self.stdout.write(f"deleted {deleted} sent outbox rows")
