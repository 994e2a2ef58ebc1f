"""Taking orders back from the orders service (migrations_plan/ chapter 07, rollback).

Each drain pass of `orders_takeover` reads the service's order export: a row the live stream
has not brought yet is applied from its snapshot (moving the `monolith.orders` cursor to the
row's sequence, servicekit.migration.backfill), and every row's Idempotency-Key is copied (no
event carries one), so a key first used against the service replays its order here. A row
whose checkout still runs counts as not applied: its order will change again (or its stock
reservation must settle) before the monolith may own it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from monolith.orders import services
from monolith.orders.models import Order
from servicekit.migration.backfill import snapshot_apply

CONSUMER = "monolith.orders"


def order_row_apply(row: dict[str, Any]) -> bool:
    """Apply one exported order unless the live stream is past it, then copy its key. True when
    the snapshot was applied. Idempotent: a reconciler may call it for any one order."""
    applied = snapshot_apply(
        consumer=CONSUMER,
        aggregate_type="order",
        aggregate_id=str(row["id"]),
        sequence=row["sequence"],
        apply=lambda: services.order_apply_snapshot(
            order_id=row["id"],
            customer_id=row["customer_id"],
            status=row["status"],
            total=row["total"],
            currency=row["currency"],
            lines=row["lines"],
            created_at=datetime.fromisoformat(row["created_at"]),
        ),
    )
    if row.get("idempotency_key"):
        Order.objects.filter(pk=row["id"]).update(
            idempotency_key=row["idempotency_key"],
            request_fingerprint=row["request_fingerprint"],
        )
    return applied


def checkouts_running(pages: Iterable[dict[str, Any]]) -> dict[int, str]:
    """Order id -> saga step, for every checkout the service has not settled."""
    return {
        row["id"]: row["checkout"]
        for page in pages
        for row in page["orders"]
        if row.get("checkout")
    }


def orders_pages_apply(pages: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Apply each page of the service's export, then yield it for the handover's caught-up check;
    rows gain `aggregate_id` (the id as text), and a running checkout holds its row back."""
    for page in pages:
        for row in page["orders"]:
            row["aggregate_id"] = str(row["id"])
            order_row_apply(row)
            if row.get("checkout"):
                row["sequence"] += 1  # not caught up: the checkout settles first
        yield page
