"""`python extracted/orders/manage.py saga_sweep`: time out checkout steps that never answered.

Its own process (Procfile `orders-saga`), so a consumer stuck on one message cannot stop
timeouts; several may run (each saga is locked while it is moved). `--once` sweeps one time.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from extracted.orders.orders.saga import saga_sweep
from servicekit.web.commands import NO_SYSTEM_CHECKS, stop_on_signals


class Command(BaseCommand):
    help = "Time out checkout saga steps past their deadline (compensate or ask again)."
    requires_system_checks = NO_SYSTEM_CHECKS

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true")

    def handle(self, *args, once, **options):
        if once:
            self.stdout.write(f"timed out: {saga_sweep()}")
            return
        stop = stop_on_signals()
        while not stop.is_set():
            if saga_sweep() == 0:
                stop.wait(settings.SAGA_SWEEP_INTERVAL)
