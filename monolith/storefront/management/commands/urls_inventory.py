"""`python manage.py urls_inventory [--json]`: the monolith's endpoints (servicekit.web.url_inventory)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from servicekit.web.url_inventory import endpoints, render


class Command(BaseCommand):
    help = "List every endpoint of the URLconf (for `python -m strangler_proxy inventory`)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON document on stdout")

    def handle(self, *args, **options) -> None:
        self.stdout.write(render(endpoints(), as_json=options["json"]))
