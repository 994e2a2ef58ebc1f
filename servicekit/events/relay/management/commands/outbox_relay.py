"""`manage.py outbox_relay`: publish the outbox to the broker until SIGTERM; SIGUSR1 pauses it
between rounds, SIGUSR2 resumes it."""

from django.core.management.base import BaseCommand

from servicekit.events.broker.kombu import publisher_from_settings
from servicekit.events.relay.relay import Relay, RelayConfig, waker_for_default_database
from servicekit.events.settings import events_settings
from servicekit.web.commands import (
    NO_SYSTEM_CHECKS,
    freeze_startup_heap,
    pause_on_signals,
    serve_metrics,
    stop_on_signals,
)


class Command(BaseCommand):
    help = "Relay outbox rows to the broker (run one or several; they never publish twice)."
    requires_system_checks = NO_SYSTEM_CHECKS

    def add_arguments(self, parser):
        parser.add_argument("--metrics-port", type=int, default=None)

    def handle(self, *args, **options):
        from django.conf import settings

        from servicekit.web.databases import database_refuse_foreign
        from servicekit.web.observability import configure_observability

        # Another service's database holds another service's outbox and inbox: never touch it.
        database_refuse_foreign()
        configure_observability(
            service_name=f"{settings.SERVICE_NAME}-relay", instrument_django=False
        )
        config = events_settings()
        serve_metrics(
            options["metrics_port"] or config.METRICS_PORT,
            collectors=["servicekit.events.outbox.metrics.collect_outbox"],
        )
        relay = Relay(publisher=publisher_from_settings(), config=RelayConfig.from_settings())
        waker = waker_for_default_database(config.RELAY_POLL_INTERVAL)
        freeze_startup_heap()
        try:
            relay.run(waker=waker, stop=stop_on_signals(), paused=pause_on_signals())
        finally:
            waker.close()
