"""Reads on orders."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from monolith.orders.models import Order, OrderLine


def order_list(
    *, user, customer_id: int | None = None, status: str | None = None
) -> QuerySet[Order]:
    """The caller's orders; staff see everyone's (optionally one customer's)."""
    qs = Order.objects.prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("id"))
    )
    if not user.is_staff:
        qs = qs.filter(customer=user)
    elif customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def order_get(*, user, order_id: int) -> Order | None:
    return order_list(user=user).filter(pk=order_id).first()
