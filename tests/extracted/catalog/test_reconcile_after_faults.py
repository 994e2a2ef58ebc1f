"""After a faulty delivery (reordered, duplicated, a handler failing once) the mirror converges:
reconciliation against the owner's state finds no drift. An event that never arrives is drift
reconciliation finds and repairs."""

import random

import pytest

from contracts.catalog import ProductPriceChangedV1, StockChangedV2
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import get_consumer
from tests.extracted.catalog.builders import product_created
from tests.support.envelopes import envelope
from tests.support.export_rows import product_export_row
from tests.support.reconcile import FakeExport, reconcile_here

pytestmark = pytest.mark.django_db
SKUS = [f"FLT-{n}" for n in range(8)]
CATEGORIES = [{"slug": "kitchen", "name": "Kitchen", "sequence": 1}]


@pytest.fixture(autouse=True)
def outcomes_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def owner_history(rng):
    """The monolith's events per sku, and the export its final state gives."""
    streams, rows = {}, []
    for sku in SKUS:
        price, on_hand = "4.50", 10
        events = [product_created(sku, price=price, on_hand=on_hand)]
        for _ in range(rng.randint(1, 4)):
            if rng.random() < 0.5:
                new = f"{rng.randint(1, 99)}.{rng.randint(0, 99):02d}"
                events.append(
                    ProductPriceChangedV1(sku=sku, old_price=price, new_price=new, currency="EUR")
                )
                price = new
            else:
                on_hand = rng.randint(0, 50)
                events.append(
                    StockChangedV2(
                        sku=sku, on_hand=on_hand, reserved=0, available=on_hand, reason="x"
                    )
                )
        streams[sku] = [envelope(e, sequence=n) for n, e in enumerate(events, start=1)]
        rows.append(product_export_row(sku, len(events), price=price, on_hand=on_hand))
    return streams, FakeExport(size=3).serve(
        "/api/v1/catalog/export/", "products", rows, categories=CATEGORIES
    )


def deliver_badly(rng, streams, *, lose=None):
    """Every envelope once, a quarter twice, shuffled, in random batches."""
    delivered = [e for sku, events in streams.items() for e in events if e is not lose]
    delivered += rng.sample(delivered, len(delivered) // 4)
    rng.shuffle(delivered)
    batches, start = [], 0
    while start < len(delivered):
        size = rng.randint(1, 5)
        batches.append(delivered[start : start + size])
        start += size
    return batches


def test_a_faulty_delivery_converges_and_reconciliation_finds_no_drift(monkeypatch):
    rng = random.Random(1234)
    streams, export = owner_history(rng)
    consumer = get_consumer("catalog")
    inbox = InboxProcessor(consumer, backoff_base=0)
    price_changed = ProductPriceChangedV1.event_type
    real = consumer.handlers[price_changed]
    failed = []

    def fails_once(event, envelope):
        if not failed:
            failed.append(event.sku)
            raise RuntimeError("injected: the handler fails once")
        return real(event, envelope)

    monkeypatch.setitem(consumer.handlers, price_changed, fails_once)

    for batch in deliver_badly(rng, streams):
        inbox.process(batch)
    inbox.sweep()  # the parked failure is retried

    reports = reconcile_here(export)
    assert failed, "the fault was not injected"
    assert {name: r.remaining for name, r in reports.items()} == {
        "product": 0,
        "category": 0,
        "inventory": 0,
    }


def test_an_event_that_never_arrived_is_drift_that_reconciliation_repairs():
    rng = random.Random(99)
    streams, export = owner_history(rng)
    lost = streams["FLT-3"][-1]  # the last change of one product never arrives
    inbox = InboxProcessor(get_consumer("catalog"))
    for batch in deliver_badly(rng, streams, lose=lost):
        inbox.process(batch)

    found = reconcile_here(export)
    assert [(d.key, d.kind) for r in found.values() for d in r.drift] == [("FLT-3", "different")]

    reconcile_here(export, fix=True)
    assert all(r.clean for r in reconcile_here(export).values())
