"""`HANDOVER_PASSWORD=... python extracted/catalog/manage.py catalog_takeover --source $MONOLITH`:
the catalog service takes product ownership over from the monolith (migrations_plan/ chapter 05)."""

from django.core.management.base import BaseCommand

from servicekit.migration.handover import Stream, TakeoverCommand


class Command(TakeoverCommand, BaseCommand):
    entity = "product"
    consumer = "catalog"
    export_path = "/api/v1/catalog/export/"
    streams = [Stream("categories", "category", "slug"), Stream("products", "product", "sku")]
