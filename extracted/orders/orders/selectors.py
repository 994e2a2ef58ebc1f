"""Reads on the write model: one order, strongly consistent (what a client polls after POST)."""

from __future__ import annotations

from django.db.models import Prefetch

from extracted.orders.orders.models import Order, OrderLine


def order_get(*, user, order_id: int) -> Order | None:
    qs = Order.objects.prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("id"))
    ).filter(pk=order_id)
    if not user.is_staff:
        qs = qs.filter(customer_id=user.pk)
    return qs.first()
