"""Reads on the write model: one order, strongly consistent (what a client polls after POST),
and the staff export the monolith reads to take orders back (orders_handback)."""

from __future__ import annotations

from django.db.models import CharField, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce

from extracted.orders.orders.models import TERMINAL_STEPS, Order, OrderLine, Saga
from servicekit.events.outbox.models import AggregateSequence


def order_get(*, user, order_id: int) -> Order | None:
    qs = Order.objects.prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("id"))
    ).filter(pk=order_id)
    if not user.is_staff:
        qs = qs.filter(customer_id=user.pk)
    return qs.first()


def order_export(*, after: int = 0, limit: int = 200) -> QuerySet[Order]:
    """A page of orders by id, each with the order event sequence its snapshot reflects (read
    in the same statement): the monolith's drain when orders are handed back."""
    last = AggregateSequence.objects.filter(
        aggregate_type="order", aggregate_id=Cast(OuterRef("pk"), CharField())
    ).values("last_sequence")[:1]
    running = Saga.objects.filter(order=OuterRef("pk")).exclude(step__in=TERMINAL_STEPS)
    return (
        Order.objects.prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")))
        .filter(pk__gt=after)
        .annotate(
            sequence=Coalesce(Subquery(last, output_field=IntegerField()), Value(0)),
            checkout_in_flight=Subquery(running.values("step")[:1], output_field=CharField()),
        )
        .order_by("pk")[:limit]
    )
