"""Project order events into the history read model. Idempotent: rows are upserted by order id,
and the inbox applies an order's events once, in order."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from contracts.orders import OrderPlacedV1
from extracted.orders.history.models import OrderHistory


def money(value) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def history_line(*, sku: str, name: str, unit_price, quantity: int) -> dict:
    return {
        "sku": sku,
        "name": name,
        "unit_price": money(unit_price),
        "quantity": quantity,
        "line_total": money(Decimal(unit_price) * quantity),
    }


def history_upsert(
    *,
    order_id: int,
    customer_id: int,
    status: str,
    total,
    currency: str,
    lines: list[dict],
    created_at: datetime,
    updated_at: datetime,
) -> None:
    OrderHistory.objects.update_or_create(
        order_id=order_id,
        defaults={
            "customer_id": customer_id,
            "status": status,
            "total": money(total),
            "currency": currency,
            "lines": [history_line(**line) for line in lines],
            "created_at": created_at,
            "updated_at": updated_at,
        },
    )


def history_apply_placed(event: OrderPlacedV1, *, occurred_at: datetime) -> None:
    history_upsert(
        order_id=event.order_id,
        customer_id=event.customer_id,
        status=event.status,
        total=event.total,
        currency=event.currency,
        lines=[
            {"sku": x.sku, "name": x.name, "unit_price": x.unit_price, "quantity": x.quantity}
            for x in event.lines
        ],
        created_at=occurred_at,
        updated_at=occurred_at,
    )


def history_apply_status(*, order_id: int, status: str, occurred_at: datetime) -> None:
    OrderHistory.objects.filter(order_id=order_id).update(status=status, updated_at=occurred_at)
