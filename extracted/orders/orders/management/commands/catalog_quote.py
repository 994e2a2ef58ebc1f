"""`manage.py catalog_quote SKU...`: ask the catalog for the checkout quote, as the orders service
does (ORDERS_CATALOG_TRANSPORT picks REST or gRPC), and print it or the problem it maps to."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from extracted.orders.orders import catalog_gateway
from servicekit.web.errors import ApplicationError, status_for


class Command(BaseCommand):
    help = "Print the catalog's current prices and stock for SKUs, over the configured transport."

    def add_arguments(self, parser):
        parser.add_argument("skus", nargs="+")
        parser.add_argument("--request-id", default=None)

    def handle(self, *args, **options):
        from django.conf import settings

        self.stdout.write(f"transport {settings.ORDERS_CATALOG_TRANSPORT}")
        try:
            quote = catalog_gateway.catalog_quote(
                skus=options["skus"], request_id=options["request_id"]
            )
        except ApplicationError as exc:
            cause = f" ({exc.__cause__})" if exc.__cause__ else ""
            raise CommandError(f"{status_for(exc)} {exc.code}: {exc.message}{cause}") from exc
        for q in quote.quotes.values():
            self.stdout.write(f"{q.sku}  {q.price} {q.currency}  available {q.available}")
        for sku in quote.unknown_skus:
            self.stdout.write(f"{sku}  unknown")
