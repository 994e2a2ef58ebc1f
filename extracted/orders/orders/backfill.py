"""Backfill: the product replica and the monolith's orders (with their Idempotency-Keys).

Like the catalog's backfill: each exported row carries the event sequence it reflects; applying
it moves this consumer's cursor to that sequence in the same transaction, so the live stream
then applies exactly the later events. Idempotency keys are not in any event, so they are
copied from every row, applied or not: a key made in the monolith replays here after the flip.
Resumable and idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from contracts.catalog import ProductCreatedV1
from extracted.orders.history.projections import history_upsert
from extracted.orders.orders import services
from extracted.orders.orders.models import Order
from servicekit.migration import backfill

CONSUMER = "orders"


@dataclass
class BackfillReport:
    products: int = 0
    orders: int = 0
    keys: int = 0
    skipped_newer: int = 0


def snapshot_apply(
    *, aggregate_type: str, aggregate_id: str, sequence: int, apply: Callable[[], None]
) -> bool:
    return backfill.snapshot_apply(
        consumer=CONSUMER,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        sequence=sequence,
        apply=apply,
    )


def products_backfill(*, pages: Iterable[dict[str, Any]], report: BackfillReport) -> None:
    for page in pages:
        for row in page["products"]:
            event = ProductCreatedV1(
                sku=row["sku"],
                name=row["name"],
                description=row.get("description", ""),
                category=row["category"],
                price=str(Decimal(row["price"])),
                currency=row["currency"],
                is_active=row["is_active"],
                on_hand=row["on_hand"],
                reserved=row["reserved"],
            )
            applied = snapshot_apply(
                aggregate_type="product",
                aggregate_id=row["sku"],
                sequence=row["sequence"],
                apply=lambda e=event: services.product_apply_created(e),
            )
            report.products += int(applied)
            report.skipped_newer += int(not applied)


def _order_apply(row: dict[str, Any]) -> None:
    created_at = datetime.fromisoformat(row["created_at"])
    services.order_apply_snapshot(
        order_id=row["id"],
        customer_id=row["customer_id"],
        status=row["status"],
        total=row["total"],
        currency=row["currency"],
        lines=row["lines"],
        created_at=created_at,
    )
    history_upsert(
        order_id=row["id"],
        customer_id=row["customer_id"],
        status=row["status"],
        total=row["total"],
        currency=row["currency"],
        lines=[
            {k: line[k] for k in ("sku", "name", "unit_price", "quantity")} for line in row["lines"]
        ],
        created_at=created_at,
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def orders_pages_apply(
    pages: Iterable[dict[str, Any]], report: BackfillReport
) -> Iterator[dict[str, Any]]:
    """Apply each page of the monolith's order export, then yield it (the handover reads the
    same pages to count what is not applied yet); rows gain `aggregate_id` (the id as text)."""
    for page in pages:
        for row in page["orders"]:
            row["aggregate_id"] = str(row["id"])
            applied = snapshot_apply(
                aggregate_type="order",
                aggregate_id=row["aggregate_id"],
                sequence=row["sequence"],
                apply=lambda r=row: _order_apply(r),
            )
            report.orders += int(applied)
            report.skipped_newer += int(not applied)
            if row.get("idempotency_key"):
                report.keys += Order.objects.filter(pk=row["id"]).update(
                    idempotency_key=row["idempotency_key"],
                    request_fingerprint=row["request_fingerprint"],
                )
        yield page
