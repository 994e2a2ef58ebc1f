"""`HANDOVER_PASSWORD=... python extracted/catalog/manage.py inventory_takeover --source
$MONOLITH`: the catalog service takes stock over from the monolith (migrations_plan/ chapter 07),
so the orders service's checkout saga can reserve it here."""

from django.core.management.base import BaseCommand

from servicekit.migration.handover import Stream, TakeoverCommand


class Command(TakeoverCommand, BaseCommand):
    entity = "inventory"
    consumer = "catalog"
    export_path = "/api/v1/catalog/export/"
    streams = [Stream("products", "product", "sku")]
