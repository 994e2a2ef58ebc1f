"""Freeze, drain, flip: the catalog service takes products over only once it has every change."""

import threading

import pytest

from servicekit.events.inbox.models import InboxCursor
from servicekit.migration.handover import HandoverTimeout, Stream, handover
from servicekit.migration.ownership import owner_of, ownership_set, require_ownership
from servicekit.web.errors import ApplicationError, status_for

pytestmark = pytest.mark.django_db(transaction=True)
STREAMS = [Stream("categories", "category", "slug"), Stream("products", "product", "sku")]


def export(products):
    def pages():
        yield {
            "categories": [{"slug": "kitchen", "sequence": 1}],
            "products": products[:1],
            "next_after": "x",
        }
        yield {
            "categories": [{"slug": "kitchen", "sequence": 1}],
            "products": products[1:],
            "next_after": None,
        }

    return pages


def cursor(aggregate_type, key, sequence):
    InboxCursor.objects.update_or_create(
        consumer="catalog",
        aggregate_type=aggregate_type,
        aggregate_id=key,
        defaults={"last_sequence": sequence},
    )


def test_flips_once_every_exported_change_is_applied():
    cursor("category", "kitchen", 1)
    cursor("product", "MUG-1", 3)
    cursor("product", "TEA-1", 1)  # behind: the export says 2
    seen_during: list[str] = []

    def catch_up_later():
        seen_during.append(owner_of("product"))
        cursor("product", "TEA-1", 2)

    timer = threading.Timer(0.5, catch_up_later)
    timer.start()
    handover(
        entity="product",
        to="catalog",
        consumer="catalog",
        export=export([{"sku": "MUG-1", "sequence": 3}, {"sku": "TEA-1", "sequence": 2}]),
        streams=STREAMS,
        grace=0,
        poll=0.05,
    )
    timer.join()

    assert seen_during == ["frozen"]  # nobody could write while it drained
    assert owner_of("product") == "catalog"


def test_frozen_writes_are_refused_with_503():
    ownership_set("product", "frozen")
    with pytest.raises(ApplicationError) as refused:
        require_ownership("product")
    assert status_for(refused.value) == 503 and refused.value.code == "handover_in_progress"


def test_a_handover_that_cannot_drain_gives_ownership_back():
    cursor("product", "MUG-1", 1)
    with pytest.raises(HandoverTimeout, match="1 product rows"):
        handover(
            entity="product",
            to="catalog",
            consumer="catalog",
            export=export([{"sku": "MUG-1", "sequence": 5}]),
            streams=[Stream("products", "product", "sku")],
            grace=0,
            poll=0.05,
            timeout=0.3,
        )
    assert owner_of("product") == "monolith"
