"""`python extracted/catalog/manage.py rebuild_stock_projection [--check]`: rebuild the stock
level of every product from zero out of the stock event store (or, with --check, only say which
differ). Exits 1 when --check finds a difference."""

from django.core.management.base import BaseCommand, CommandError

from extracted.catalog.stock.projection import stock_projection_rebuild


class Command(BaseCommand):
    help = "Rebuild the stock levels (Inventory) from the stock event store."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="compare only, write nothing")

    def handle(self, *args, check: bool, **options):
        report = stock_projection_rebuild(check=check)
        verb = "differ" if check else "differed, rebuilt"
        self.stdout.write(
            f"{report.skus} skus, {report.events} events: {len(report.differed)} {verb}"
        )
        for sku in report.differed:
            self.stdout.write(f"  {sku}")
        if check and report.differed:
            raise CommandError("the stock projection differs from the event store")
