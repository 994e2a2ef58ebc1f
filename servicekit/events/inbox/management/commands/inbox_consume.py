"""`manage.py inbox_consume <consumer>`: apply the consumer's queue until SIGTERM."""

from django.core.management.base import BaseCommand

from servicekit.events.inbox.worker import worker_from_settings
from servicekit.events.settings import events_settings
from servicekit.web.commands import (
    NO_SYSTEM_CHECKS,
    freeze_startup_heap,
    serve_metrics,
    stop_on_signals,
)


class Command(BaseCommand):
    help = "Consume one service's event queue through the inbox (idempotent, ordered)."
    requires_system_checks = NO_SYSTEM_CHECKS

    def add_arguments(self, parser):
        parser.add_argument(
            "consumer", help="consumer (and queue) name, e.g. monolith.notifications"
        )
        parser.add_argument("--metrics-port", type=int, default=None)

    def handle(self, *args, consumer, **options):
        from django.conf import settings

        from servicekit.web.databases import database_refuse_foreign
        from servicekit.web.observability import configure_observability

        # Another service's database holds another service's outbox and inbox: never touch it.
        database_refuse_foreign()
        # Handlers continue each event's trace (the envelope carries its traceparent).
        configure_observability(
            service_name=f"{settings.SERVICE_NAME}-{consumer}", instrument_django=False
        )
        serve_metrics(
            options["metrics_port"] or events_settings().METRICS_PORT,
            collectors=["servicekit.events.inbox.metrics.collect_inbox"],
        )
        worker = worker_from_settings(consumer)
        freeze_startup_heap()
        worker.run(stop=stop_on_signals())
