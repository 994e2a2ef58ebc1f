"""Reads on the order history read model: the list answers from here, never from catalog."""

from __future__ import annotations

from django.db.models import QuerySet

from extracted.orders.history.models import OrderHistory


def history_list(
    *, user, customer_id: int | None = None, status: str | None = None
) -> QuerySet[OrderHistory]:
    """The caller's orders; staff see everyone's (optionally one customer's)."""
    qs = OrderHistory.objects.all()
    if not user.is_staff:
        qs = qs.filter(customer_id=user.pk)
    elif customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-order_id")


def history_as_api(row: OrderHistory) -> dict:
    return {
        "id": row.order_id,
        "customer_id": row.customer_id,
        "status": row.status,
        "total": row.total,
        "currency": row.currency,
        "lines": row.lines,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
