"""`HANDOVER_PASSWORD=... python manage.py catalog_takeover --source $CATALOG`: the monolith takes
product ownership back from the catalog service (the rollback of migrations_plan/ chapter 05)."""

from django.core.management.base import BaseCommand

from servicekit.migration.handover import Stream, TakeoverCommand


class Command(TakeoverCommand, BaseCommand):
    entity = "product"
    consumer = "monolith.catalog"
    export_path = "/api/v1/catalog/export/"
    streams = [Stream("categories", "category", "slug"), Stream("products", "product", "sku")]
