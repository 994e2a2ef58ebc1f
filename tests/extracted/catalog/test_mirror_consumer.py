"""Phase 1: the catalog service mirrors the monolith's catalog events through its inbox."""

import pytest

from contracts.catalog import ProductPriceChangedV1, StockChangedV1, StockChangedV2
from extracted.catalog.products.models import Inventory, PriceChange, Product
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import get_consumer
from servicekit.events.outbox.models import AggregateSequence, OutboxMessage
from tests.extracted.catalog.builders import product_created
from tests.support.envelopes import envelope

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox():
    return InboxProcessor(get_consumer("catalog"))


def test_monolith_events_are_mirrored_once_in_order(inbox):
    created = envelope(product_created(), sequence=1)
    price = envelope(
        ProductPriceChangedV1(sku="MUG-1", old_price="4.50", new_price="5.00", currency="EUR"),
        sequence=2,
    )
    stock = envelope(
        StockChangedV1(sku="MUG-1", on_hand=7, reserved=1, reason="order:1"), sequence=3
    )

    inbox.process([stock, created])  # out of order: stock waits for its predecessors
    inbox.process([created, price])  # a duplicate of `created` and the missing event

    product = Product.objects.get(sku="MUG-1")
    assert product.price == pytest.approx(5)
    assert PriceChange.objects.filter(product=product).count() == 1
    inventory = Inventory.objects.get(product=product)
    assert (inventory.on_hand, inventory.reserved) == (7, 1)  # the v1 event, upcast to v2
    # applying raised this service's own sequence: were it to own the product, it continues at 4
    assert (
        AggregateSequence.objects.get(aggregate_type="product", aggregate_id="MUG-1").last_sequence
        == 3
    )
    assert not OutboxMessage.objects.exists()  # mirrored, never re-emitted


def test_its_own_events_coming_back_are_skipped(inbox):
    inbox.process([envelope(product_created(), sequence=1)])
    own = envelope(
        StockChangedV2(sku="MUG-1", on_hand=0, reserved=0, available=0, reason="x"),
        origin="catalog",
        sequence=2,
    )
    later = envelope(
        StockChangedV2(sku="MUG-1", on_hand=3, reserved=0, available=3, reason="y"), sequence=3
    )

    inbox.process([own])
    assert Inventory.objects.get(product__sku="MUG-1").on_hand == 10  # own change: not re-applied
    inbox.process([later])  # and the stream goes on after it
    assert Inventory.objects.get(product__sku="MUG-1").on_hand == 3
