"""The periodic reconciliation task reads the monolith's export and reports drift."""

from decimal import Decimal

import pytest

from extracted.catalog.products import tasks
from extracted.catalog.products.models import Category, Inventory, Product

pytestmark = pytest.mark.django_db


class FakeSource:
    logged_in_as = None

    def __init__(self, base_url):
        self.base_url = base_url

    def login(self, *, username, password, token_url):
        FakeSource.logged_in_as = (username, token_url)

    def pages(self, path):
        assert path == "/api/v1/catalog/export/"
        yield {
            "categories": [{"slug": "kitchen", "name": "Kitchen", "sequence": 1}],
            "products": [
                {
                    "sku": "MUG-1",
                    "name": "Mug",
                    "description": "",
                    "category": "kitchen",
                    "price": "5.00",
                    "currency": "EUR",
                    "is_active": True,
                    "on_hand": 3,
                    "reserved": 0,
                    "sequence": 1,
                }
            ],
            "next_after": None,
        }


def test_the_task_reports_drift_without_repairing(monkeypatch, settings):
    settings.RECONCILE_SOURCE = "http://monolith.test"
    settings.RECONCILE_USERNAME, settings.RECONCILE_PASSWORD = "staff", "secret"
    monkeypatch.setattr(tasks, "ExportSource", FakeSource)
    category = Category.objects.create(slug="kitchen", name="Kitchen")
    product = Product.objects.create(
        sku="MUG-1", name="Mug", category=category, price=Decimal("6.00")
    )
    Inventory.objects.create(product=product, on_hand=3)

    outcome = tasks.catalog_reconcile_task()

    assert outcome["clean"] is False and outcome["different"] == 1
    assert FakeSource.logged_in_as == ("staff", "http://monolith.test/api/v1/auth/token")
    assert Product.objects.get(sku="MUG-1").price == Decimal("6.00")  # reported, not repaired


def test_a_clean_copy_reports_clean(monkeypatch, settings):
    settings.RECONCILE_SOURCE = "http://monolith.test"
    monkeypatch.setattr(tasks, "ExportSource", FakeSource)
    category = Category.objects.create(slug="kitchen", name="Kitchen")
    product = Product.objects.create(
        sku="MUG-1", name="Mug", category=category, price=Decimal("5.00")
    )
    Inventory.objects.create(product=product, on_hand=3)

    assert tasks.catalog_reconcile_task()["clean"] is True
