"""Backfill the catalog from the monolith's export API (how it stays gap-free and idempotent
with the live stream: servicekit/migration/backfill.py). Pages are keyed by sku."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from contracts.catalog import CategoryCreatedV1, ProductCreatedV1
from extracted.catalog.products import services
from servicekit.migration.backfill import snapshot_apply

CONSUMER = "catalog"


@dataclass
class BackfillReport:
    categories: int = 0
    products: int = 0
    skipped_newer: int = 0
    pages: int = 0


def _snapshot(*, aggregate_type: str, aggregate_id: str, sequence: int, apply) -> bool:
    return snapshot_apply(
        consumer=CONSUMER,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        sequence=sequence,
        apply=apply,
    )


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
                applied = _snapshot(
                    aggregate_type="category",
                    aggregate_id=row["slug"],
                    sequence=row["sequence"],
                    apply=lambda e=event: services.category_apply_created(e),
                )
                report.categories += int(applied)
            categories_done = True
        for row in page["products"]:
            event = _product_event(row)
            applied = _snapshot(
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
