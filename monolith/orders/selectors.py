"""Reads on orders."""

from __future__ import annotations

from django.db.models import CharField, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce

from monolith.orders.models import Order, OrderLine
from servicekit.events.outbox import AggregateSequence


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


def order_export(*, after: int = 0, limit: int = 200) -> QuerySet[Order]:
    """A page of orders by id, each with the order event sequence its snapshot reflects (read
    in the same statement), for the orders service's backfill and takeover."""
    last = AggregateSequence.objects.filter(
        aggregate_type="order", aggregate_id=Cast(OuterRef("pk"), CharField())
    ).values("last_sequence")[:1]
    return (
        Order.objects.prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")))
        .filter(pk__gt=after)
        .annotate(sequence=Coalesce(Subquery(last, output_field=IntegerField()), Value(0)))
        .order_by("pk")[:limit]
    )
