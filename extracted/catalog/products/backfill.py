"""Backfill: copy the monolith's catalog through its export API, then let the live stream run.

Each snapshot row carries the event sequence it reflects. Applying a row also moves the inbox
cursor of that aggregate to the row's sequence, in one transaction, so the consumer then skips
every event the snapshot already contains and applies every later one: no gap, no double-apply.
A row older than what the live stream has already applied is skipped. Resumable: pages are
keyed by sku and every step is idempotent, so a rerun (or a crash mid-way) is safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction

from contracts.catalog import CategoryCreatedV1, ProductCreatedV1
from extracted.catalog.products import services
from servicekit.inbox.mirror import aggregate_sequence_observe
from servicekit.inbox.models import InboxCursor
from servicekit.inbox.processor import InboxProcessor
from servicekit.inbox.registry import get_consumer

CONSUMER = "catalog"


@dataclass
class BackfillReport:
    categories: int = 0
    products: int = 0
    skipped_newer: int = 0
    pages: int = 0


def _cursor(aggregate_type: str, aggregate_id: str) -> InboxCursor:
    cursor, _ = InboxCursor.objects.select_for_update().get_or_create(
        consumer=CONSUMER, aggregate_type=aggregate_type, aggregate_id=aggregate_id
    )
    return cursor


@transaction.atomic
def snapshot_apply(
    *, aggregate_type: str, aggregate_id: str, sequence: int, apply: Callable[[], None]
) -> bool:
    """Apply one snapshot row unless the live stream is already past it. True when applied."""
    cursor = _cursor(aggregate_type, aggregate_id)
    if sequence and cursor.last_sequence >= sequence:
        return False
    apply()
    if sequence:
        cursor.last_sequence = sequence
        cursor.save(update_fields=["last_sequence"])
        aggregate_sequence_observe(
            aggregate_type=aggregate_type, aggregate_id=aggregate_id, sequence=sequence
        )
        # live events that arrived before the snapshot and waited for their predecessors
        InboxProcessor(get_consumer(CONSUMER)).resume(aggregate_type, aggregate_id)
    return True


def _product_event(row: dict[str, Any]) -> ProductCreatedV1:
    return ProductCreatedV1(
        sku=row["sku"],
        name=row["name"],
        description=row["description"],
        category=row["category"],
        price=str(Decimal(row["price"])),
        currency=row["currency"],
        is_active=row["is_active"],
        on_hand=row["on_hand"],
        reserved=row["reserved"],
    )


def catalog_backfill(*, pages: Iterator[dict[str, Any]]) -> BackfillReport:
    report = BackfillReport()
    categories_done = False
    for page in pages:
        report.pages += 1
        if not categories_done:
            for row in page["categories"]:
                event = CategoryCreatedV1(slug=row["slug"], name=row["name"])
                applied = snapshot_apply(
                    aggregate_type="category",
                    aggregate_id=row["slug"],
                    sequence=row["sequence"],
                    apply=lambda e=event: services.category_apply_created(e),
                )
                report.categories += int(applied)
            categories_done = True
        for row in page["products"]:
            event = _product_event(row)
            applied = snapshot_apply(
                aggregate_type="product",
                aggregate_id=row["sku"],
                sequence=row["sequence"],
                apply=lambda e=event: services.product_apply_created(e),
            )
            if applied:
                report.products += 1
            else:
                report.skipped_newer += 1
    return report
