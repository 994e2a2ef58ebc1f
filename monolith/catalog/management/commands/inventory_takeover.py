"""`python manage.py inventory_takeover --source $CATALOG --token $STAFF --route inventory-write`:
the monolith takes stock back from the catalog service (the rollback of migrations_plan/ 07).

Refused while the orders service owns orders: its checkout saga reserves stock in the catalog.
Hand orders back first (`orders_takeover`). The catalog's stock events are mirrored here
(monolith.catalog), so the drain waits until every stock level is current.
"""

from django.core.management.base import BaseCommand, CommandError

from servicekit.migration.handover import Stream, TakeoverCommand
from servicekit.migration.ownership import DEFAULT_OWNER, owner_of


class Command(TakeoverCommand, BaseCommand):
    entity = "inventory"
    consumer = "monolith.catalog"
    export_path = "/api/v1/catalog/export/"
    streams = [Stream("products", "product", "sku")]

    def check_preconditions(self) -> None:
        if owner_of("order") != DEFAULT_OWNER:
            raise CommandError(
                f"order is owned by {owner_of('order')}: hand orders back first "
                "(python manage.py orders_takeover), its checkout reserves stock there"
            )
