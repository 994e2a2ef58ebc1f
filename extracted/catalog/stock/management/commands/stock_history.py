"""`python extracted/catalog/manage.py stock_history SKU [--last N]`: a sku's stock events, the
state each one leaves, and the state loaded the usual way (snapshot + later events)."""

from django.core.management.base import BaseCommand

from extracted.catalog.stock.aggregate import StockEventData, StockState, apply
from extracted.catalog.stock.eventstore import stock_load
from extracted.catalog.stock.models import StockEvent, StockSnapshot


class Command(BaseCommand):
    help = "Show a sku's stock events and the state folded from them."

    def add_arguments(self, parser):
        parser.add_argument("sku")
        parser.add_argument("--last", type=int, default=10, help="show the last N events")

    def handle(self, *args, sku: str, last: int, **options):
        state, lines = StockState(), []
        for event in StockEvent.objects.filter(aggregate_id=sku).order_by("version"):
            state = apply(state, StockEventData(event.type, event.payload))
            payload = " ".join(f"{k}={v}" for k, v in sorted(event.payload.items()))
            lines.append(
                f"v{event.version} {event.type} {payload} -> "
                f"on_hand={state.on_hand} reserved={state.reserved}"
            )
        for line in lines[-last:] if last > 0 else lines:
            self.stdout.write(line)
        loaded = stock_load(sku)
        snapshots = StockSnapshot.objects.filter(aggregate_id=sku).count()
        self.stdout.write(
            f"{sku}: version {loaded.version}, on_hand={loaded.state.on_hand} "
            f"reserved={loaded.state.reserved} available={loaded.state.available} "
            f"({snapshots} snapshots)"
        )
