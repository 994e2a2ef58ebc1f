"""Reads on the write model: one order, strongly consistent (what a client polls after POST),
and the staff export the monolith reads to take orders back (orders_handback)."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import CharField, IntegerField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce

from extracted.orders.orders import catalog_gateway
from extracted.orders.orders.models import TERMINAL_STEPS, Order, OrderLine, Saga
from servicekit.events.outbox import AggregateSequence


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


def checkout_quote(
    *, quantities: dict[str, int], request_id: str | None = None, traceparent: str | None = None
) -> dict:
    """A basket priced at the catalog's current prices and checked against its live stock (not
    the replica), asked when a checkout starts. Raises CatalogUnavailable (503)."""
    quote = catalog_gateway.catalog_quote(
        skus=list(quantities), request_id=request_id, traceparent=traceparent
    )
    lines = []
    for sku, quantity in quantities.items():
        q = quote.quotes.get(sku)
        if q is None:
            continue
        lines.append(
            {
                "sku": sku,
                "name": q.name,
                "quantity": quantity,
                "unit_price": q.price,
                "currency": q.currency,
                "available": q.available,
                "in_stock": q.available >= quantity,
                "line_total": q.price * quantity,
            }
        )
    return {
        "lines": lines,
        "unknown_skus": list(quote.unknown_skus),
        "total": sum((line["line_total"] for line in lines), start=Decimal("0.00")),
        "ready": not quote.unknown_skus and all(line["in_stock"] for line in lines),
    }
