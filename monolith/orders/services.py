"""Placing, confirming and cancelling orders; stock and outbox in the same transaction."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction

from contracts.orders import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderLineV1,
    OrderPlacedV1,
    OrderStatusChangedV1,
)
from monolith.catalog import selectors as catalog_selectors
from monolith.catalog import services as catalog_services
from monolith.orders.models import TRANSITIONS, Order, OrderLine, OrderStatus
from servicekit.events.outbox import outbox_enqueue
from servicekit.migration.ownership import require_ownership
from servicekit.web.errors import ApplicationError, InvalidInputError

MAX_LINES = 50


@dataclass(frozen=True)
class OrderLineIn:
    sku: str
    quantity: int


class IllegalTransition(ApplicationError):
    code = "illegal_transition"
    title = "Illegal status transition"


class IdempotencyKeyReused(ApplicationError):
    code = "idempotency_key_reused"
    title = "Idempotency key reused"


def _merge(lines: list[OrderLineIn]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for line in lines:
        merged[line.sku] = merged.get(line.sku, 0) + line.quantity
    return merged


def fingerprint(quantities: dict[str, int]) -> str:
    canonical = json.dumps(sorted(quantities.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def order_place(
    *, customer, lines: list[OrderLineIn], idempotency_key: str | None = None
) -> tuple[Order, bool]:
    """Place an order; returns `(order, created)`.

    With an idempotency key, a retry with the same lines returns the first order
    (`created=False`) and a different body with the same key is refused (422).
    """
    quantities = _merge(lines)
    if not quantities:
        raise InvalidInputError("An order needs at least one line.", code="empty_order")
    if len(quantities) > MAX_LINES:
        raise InvalidInputError(f"An order has at most {MAX_LINES} lines.", code="too_many_lines")
    digest = fingerprint(quantities)
    if idempotency_key:
        existing = _replay(customer=customer, key=idempotency_key, digest=digest)
        if existing is not None:
            return existing, False
    try:
        return _order_create(
            customer=customer, quantities=quantities, key=idempotency_key, digest=digest
        ), True
    except IntegrityError:
        # A concurrent request with the same key committed first: answer with its order.
        existing = (
            _replay(customer=customer, key=idempotency_key, digest=digest)
            if idempotency_key
            else None
        )
        if existing is None:
            raise
        return existing, False


def _replay(*, customer, key: str, digest: str) -> Order | None:
    existing = Order.objects.filter(customer=customer, idempotency_key=key).first()
    if existing is not None and existing.request_fingerprint != digest:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used for a different order; use a new key.",
        )
    return existing


@transaction.atomic
def _order_create(*, customer, quantities: dict[str, int], key: str | None, digest: str) -> Order:
    # Once the orders service owns orders (migrations_plan/ chapter 07) they are placed there.
    require_ownership("order")
    products = catalog_selectors.products_by_sku(skus=list(quantities))
    unknown = sorted(set(quantities) - set(products))
    if unknown:
        raise InvalidInputError(
            "Unknown or unavailable products: " + ", ".join(unknown) + ".",
            code="unknown_product",
            details={"skus": unknown},
        )
    currencies = {p.currency for p in products.values()}
    if len(currencies) > 1:
        raise InvalidInputError(
            "All products of an order must share a currency.", code="mixed_currency"
        )
    total = sum((products[sku].price * qty for sku, qty in quantities.items()), Decimal("0.00"))
    order = Order.objects.create(
        customer=customer,
        status=OrderStatus.PENDING,
        total=total,
        currency=currencies.pop(),
        idempotency_key=key,
        request_fingerprint=digest,
    )
    OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                product=products[sku],
                sku=sku,
                name=products[sku].name,
                unit_price=products[sku].price,
                quantity=qty,
            )
            for sku, qty in sorted(quantities.items())
        ]
    )
    catalog_services.stock_take(
        quantities={products[sku].pk: qty for sku, qty in quantities.items()},
        reason=f"order:{order.pk}",
    )
    outbox_enqueue(
        OrderPlacedV1(
            order_id=order.pk,
            customer_id=customer.pk,
            lines=tuple(
                OrderLineV1(
                    sku=sku,
                    name=products[sku].name,
                    quantity=qty,
                    unit_price=str(products[sku].price),
                )
                for sku, qty in sorted(quantities.items())
            ),
            total=str(order.total),
            currency=order.currency,
            status=order.status,
        )
    )
    return order


def _locked(order: Order) -> Order:
    require_ownership("order")
    return Order.objects.select_for_update().get(pk=order.pk)


def _move(order: Order, to_status: str) -> Order:
    if to_status not in TRANSITIONS[order.status]:
        raise IllegalTransition(
            f"An order that is {order.status} cannot become {to_status}.",
            details={"from_status": order.status, "to_status": to_status},
        )
    order.status = to_status
    order.save(update_fields=["status", "updated_at"])
    return order


@transaction.atomic
def order_cancel(*, order: Order, reason: str = "cancelled by customer") -> Order:
    """Cancel and put every unit back on the shelf."""
    order = _move(_locked(order), OrderStatus.CANCELLED)
    catalog_services.stock_return(
        quantities={line.product_id: line.quantity for line in order.lines.all()},
        reason=f"order:{order.pk}:cancelled",
    )
    outbox_enqueue(
        OrderCancelledV1(order_id=order.pk, customer_id=order.customer_id, reason=reason)
    )
    return order


@transaction.atomic
def order_confirm(*, order: Order) -> Order:
    order = _move(_locked(order), OrderStatus.CONFIRMED)
    outbox_enqueue(OrderConfirmedV1(order_id=order.pk, customer_id=order.customer_id))
    return order


def order_set_status(*, order: Order, status: str, reason: str = "") -> Order:
    """Staff moves: confirm, ship, deliver or cancel, each only where TRANSITIONS allows it."""
    if status == OrderStatus.CANCELLED:
        return order_cancel(order=order, reason=reason or "cancelled by staff")
    if status == OrderStatus.CONFIRMED:
        return order_confirm(order=order)
    with transaction.atomic():
        order = _move(_locked(order), status)
        outbox_enqueue(
            OrderStatusChangedV1(order_id=order.pk, customer_id=order.customer_id, status=status)
        )
        return order
