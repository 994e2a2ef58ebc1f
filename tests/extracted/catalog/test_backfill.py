"""Backfill then live stream: every event is applied once, none is lost between the two."""

import pytest

from contracts.catalog import ProductPriceChangedV1, StockChangedV1
from extracted.catalog.products.backfill import catalog_backfill
from extracted.catalog.products.models import Category, Inventory, Product
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import get_consumer
from tests.extracted.catalog.builders import product_created
from tests.support.envelopes import envelope
from tests.support.export_rows import product_export_row

pytestmark = pytest.mark.django_db


def page(products, next_after=None):
    return {
        "categories": [{"slug": "kitchen", "name": "Kitchen", "sequence": 1}],
        "products": products,
        "next_after": next_after,
    }


def row(sku, sequence, **overrides):
    return product_export_row(sku, sequence, **overrides)


def test_live_events_before_and_after_the_snapshot_are_applied_exactly_once():
    inbox = InboxProcessor(get_consumer("catalog"))
    # given: the live stream already delivered MUG-1's event #3 (it waits: #1 and #2 unseen)
    stock3 = envelope(
        StockChangedV1(sku="MUG-1", on_hand=8, reserved=0, reason="order:1"), sequence=3
    )
    inbox.process([stock3])
    assert not Product.objects.exists()

    # when: the snapshot reflects MUG-1 at #2 and TEA-1 at #5
    report = catalog_backfill(
        pages=iter(
            [page([row("MUG-1", 2, price="5.00")], next_after="MUG-1"), page([row("TEA-1", 5)])]
        )
    )
    # the replayed older events (#1, #2) and the newer ones all come through the inbox again
    inbox.process([envelope(product_created("MUG-1"), sequence=1)])
    inbox.process(
        [
            envelope(
                ProductPriceChangedV1(
                    sku="MUG-1", old_price="4.50", new_price="5.00", currency="EUR"
                ),
                sequence=2,
            )
        ]
    )
    inbox.process(
        [
            envelope(
                ProductPriceChangedV1(
                    sku="TEA-1", old_price="4.50", new_price="6.00", currency="EUR"
                ),
                sequence=6,
            )
        ]
    )
    inbox.process([stock3])  # redelivered

    # then
    assert (report.products, report.categories, report.pages) == (2, 1, 2)
    assert Category.objects.get().name == "Kitchen"
    mug, tea = Product.objects.get(sku="MUG-1"), Product.objects.get(sku="TEA-1")
    assert str(mug.price) == "5.00" and str(tea.price) == "6.00"
    assert Inventory.objects.get(product=mug).on_hand == 8
    assert mug.price_changes.count() == 0  # #2 was in the snapshot: not applied twice
    assert tea.price_changes.count() == 1


def test_rerunning_the_backfill_changes_nothing_newer():
    inbox = InboxProcessor(get_consumer("catalog"))
    catalog_backfill(pages=iter([page([row("MUG-1", 1)])]))
    inbox.process(
        [envelope(StockChangedV1(sku="MUG-1", on_hand=3, reserved=0, reason="x"), sequence=2)]
    )

    again = catalog_backfill(pages=iter([page([row("MUG-1", 1)])]))

    assert again.skipped_newer == 1
    assert Inventory.objects.get(product__sku="MUG-1").on_hand == 3
