"""When the catalog owns products, repairing the monolith's drifted copy means events."""

from decimal import Decimal

import pytest

from extracted.catalog.products.models import Category, Inventory, Product
from extracted.catalog.products.reconcile import (
    Drift,
    ReconcileReport,
    catalog_reconcile,
    catalog_repair_remote,
)
from servicekit.events.outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db


def make(sku, price="5.00"):
    category, _ = Category.objects.get_or_create(slug="kitchen", defaults={"name": "Kitchen"})
    product = Product.objects.create(sku=sku, name="Mug", category=category, price=Decimal(price))
    Inventory.objects.create(product=product, on_hand=3)
    return product


def monolith_row(sku, price):
    return {
        "sku": sku,
        "name": "Mug",
        "description": "",
        "category": "kitchen",
        "price": price,
        "currency": "EUR",
        "is_active": True,
        "on_hand": 3,
        "reserved": 0,
        "sequence": 1,
    }


def test_drift_found_against_the_monolith_becomes_repair_events(catalog_owned):
    make("MUG-1", "6.00")  # the monolith still shows 5.00
    make("NEW-1")  # the monolith never heard of it
    report = catalog_reconcile(
        pages=iter(
            [
                {
                    "categories": [{"slug": "kitchen", "name": "Kitchen", "sequence": 1}],
                    "products": [monolith_row("MUG-1", "5.00"), monolith_row("OLD-1", "1.00")],
                    "next_after": None,
                }
            ]
        )
    )
    kinds = sorted((d.sku, d.kind) for d in report.drift)
    assert kinds == [("MUG-1", "different"), ("NEW-1", "extra"), ("OLD-1", "missing")]

    emitted = catalog_repair_remote(report=report)

    events = list(OutboxMessage.objects.order_by("id").values_list("event_type", "aggregate_id"))
    assert emitted == 3
    assert events == [
        ("catalog.product_updated.v1", "MUG-1"),
        ("catalog.product_price_changed.v1", "MUG-1"),
        ("catalog.product_created.v1", "NEW-1"),
    ]
    price = OutboxMessage.objects.get(event_type="catalog.product_price_changed.v1").payload
    assert (price["old_price"], price["new_price"]) == ("5.00", "6.00")


def test_nothing_to_emit_for_a_row_only_the_monolith_has():
    report = ReconcileReport(
        drift=[Drift("OLD-1", "missing", source_row=monolith_row("OLD-1", "1.00"))]
    )
    assert catalog_repair_remote(report=report) == 0
    assert not OutboxMessage.objects.exists()
