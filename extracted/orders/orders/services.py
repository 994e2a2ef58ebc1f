"""Writes on the orders service's orders.

The owner's writes (`order_place`, `order_cancel`, `order_set_status`) are allowed only while
`ownership.yaml` names this service the owner of `order`; placing starts the checkout saga
(extracted.orders.orders.saga). The `*_apply_*` functions copy other services' events: the
catalog's products into the replica, and the monolith's orders while it still owns them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction

from contracts.catalog import (
    ProductCreatedV1,
    ProductPriceChangedV1,
    ProductUpdatedV1,
    StockChangedV2,
)
from contracts.orders import (
    OrderConfirmedV1,
    OrderLineV1,
    OrderPlacedV1,
    OrderStatusChangedV1,
)
from extracted.orders.orders import saga as checkout
from extracted.orders.orders.models import (
    TRANSITIONS,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    Saga,
    SagaStep,
)
from servicekit.events.outbox import outbox_enqueue
from servicekit.migration.ownership import require_ownership
from servicekit.migration.sequences import id_sequence_catch_up
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


class InsufficientStock(ApplicationError):
    code = "insufficient_stock"
    title = "Insufficient stock"


class SagaInProgress(ApplicationError):
    code = "saga_in_progress"
    title = "Checkout still running"


def quantities_of(lines: list[OrderLineIn]) -> dict[str, int]:
    """Quantity per SKU, lines of the same SKU added up."""
    merged: dict[str, int] = {}
    for line in lines:
        merged[line.sku] = merged.get(line.sku, 0) + line.quantity
    return merged


def fingerprint(quantities: dict[str, int]) -> str:
    """The same digest as the monolith's, so keys copied from it still recognise their body."""
    canonical = json.dumps(sorted(quantities.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def order_place(
    *,
    customer_id: int,
    lines: list[OrderLineIn],
    idempotency_key: str | None = None,
    payment_behaviour: str = "",
) -> tuple[Order, bool]:
    """Place an order (status `pending`) and start its checkout saga; returns `(order, created)`.

    Validation and an obvious shortage (per the replicated stock level) answer at once like the
    monolith (400, 409); the reservation in the catalog decides, and a race lost there ends the
    order `cancelled`. An Idempotency-Key replays the first order, wherever it was placed.
    """
    quantities = quantities_of(lines)
    if not quantities:
        raise InvalidInputError("An order needs at least one line.", code="empty_order")
    if len(quantities) > MAX_LINES:
        raise InvalidInputError(f"An order has at most {MAX_LINES} lines.", code="too_many_lines")
    digest = fingerprint(quantities)
    if idempotency_key:
        existing = _replay(customer_id=customer_id, key=idempotency_key, digest=digest)
        if existing is not None:
            return existing, False
    try:
        order = _order_create(
            customer_id=customer_id,
            quantities=quantities,
            key=idempotency_key,
            digest=digest,
            payment_behaviour=payment_behaviour,
        )
        return order, True
    except IntegrityError:
        existing = (
            _replay(customer_id=customer_id, key=idempotency_key, digest=digest)
            if idempotency_key
            else None
        )
        if existing is None:
            raise
        return existing, False


def _replay(*, customer_id: int, key: str, digest: str) -> Order | None:
    existing = Order.objects.filter(customer_id=customer_id, idempotency_key=key).first()
    if existing is not None and existing.request_fingerprint != digest:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used for a different order; use a new key.",
        )
    return existing


@transaction.atomic
def _order_create(
    *,
    customer_id: int,
    quantities: dict[str, int],
    key: str | None,
    digest: str,
    payment_behaviour: str,
) -> Order:
    require_ownership("order")
    products = {p.sku: p for p in Product.objects.filter(sku__in=list(quantities), is_active=True)}
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
    short = [
        {"sku": sku, "requested": qty, "available": products[sku].available}
        for sku, qty in sorted(quantities.items())
        if products[sku].available < qty
    ]
    if short:
        raise InsufficientStock(
            "Not enough stock for " + ", ".join(item["sku"] for item in short) + ".",
            details={"shortages": short},
        )
    total = sum((products[sku].price * qty for sku, qty in quantities.items()), Decimal("0.00"))
    order = Order.objects.create(
        customer_id=customer_id,
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
                sku=sku,
                name=products[sku].name,
                unit_price=products[sku].price,
                quantity=qty,
            )
            for sku, qty in sorted(quantities.items())
        ]
    )
    outbox_enqueue(
        OrderPlacedV1(
            order_id=order.pk,
            customer_id=customer_id,
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
    checkout.saga_start(order=order, payment_behaviour=payment_behaviour)
    return order


def _locked(order: Order) -> Order:
    return Order.objects.select_for_update().get(pk=order.pk)


def _check(order: Order, to_status: str) -> None:
    if to_status not in TRANSITIONS[order.status]:
        raise IllegalTransition(
            f"An order that is {order.status} cannot become {to_status}.",
            details={"from_status": order.status, "to_status": to_status},
        )


@transaction.atomic
def order_cancel(*, order: Order, reason: str = "cancelled by customer") -> Order:
    """Cancel now; the saga gives back stock and money behind it (refund, release/return)."""
    require_ownership("order")
    order = _locked(order)
    _check(order, OrderStatus.CANCELLED)
    checkout.saga_cancel(order=order, reason=reason)
    order.refresh_from_db()
    return order


@transaction.atomic
def order_set_status(*, order: Order, status: str, reason: str = "") -> Order:
    """Staff moves. Confirming is the saga's job for orders placed here (409 while it runs);
    orders copied from the monolith are confirmed by hand as there."""
    if status == OrderStatus.CANCELLED:
        return order_cancel(order=order, reason=reason or "cancelled by staff")
    require_ownership("order")
    order = _locked(order)
    _check(order, status)
    if status == OrderStatus.CONFIRMED:
        saga = Saga.objects.filter(pk=order.pk).first()
        if saga is not None and saga.step != SagaStep.CONFIRMED:
            raise SagaInProgress(
                "This order is confirmed by its checkout (payment) once it completes.",
                details={"step": saga.step},
            )
        order.status = status
        order.save(update_fields=["status", "updated_at"])
        outbox_enqueue(OrderConfirmedV1(order_id=order.pk, customer_id=order.customer_id))
        return order
    order.status = status
    order.save(update_fields=["status", "updated_at"])
    outbox_enqueue(
        OrderStatusChangedV1(order_id=order.pk, customer_id=order.customer_id, status=status)
    )
    return order


# --- the catalog replica (the inbox calls these inside its transaction) -----------------------


def product_apply_created(event: ProductCreatedV1) -> None:
    Product.objects.update_or_create(
        sku=event.sku,
        defaults={
            "name": event.name,
            "price": Decimal(event.price),
            "currency": event.currency,
            "is_active": event.is_active,
            "available": event.on_hand - event.reserved,
        },
    )


def product_apply_updated(event: ProductUpdatedV1) -> None:
    Product.objects.filter(sku=event.sku).update(name=event.name, is_active=event.is_active)


def product_apply_price_changed(event: ProductPriceChangedV1) -> None:
    Product.objects.filter(sku=event.sku).update(price=Decimal(event.new_price))


def stock_apply_changed(event: StockChangedV2) -> None:
    Product.objects.filter(sku=event.sku).update(available=event.available)


# --- the monolith's orders, copied while it owns them ------------------------------------------


def order_apply_snapshot(
    *,
    order_id: int,
    customer_id: int,
    status: str,
    total: str,
    currency: str,
    lines: list[dict],
    created_at: datetime,
    idempotency_key: str | None = None,
    request_fingerprint: str = "",
) -> Order:
    """Create or refresh the copy of a monolith order (same id), its lines and its key. The
    mirror and the backfill both come through here, so a new copy moves the id sequence past
    itself: the service's first own order never collides with a copied id, whichever way the
    copies arrived (a takeover's drain, the live stream, or `plan.py goto`'s fleet)."""
    defaults = {
        "customer_id": customer_id,
        "status": status,
        "total": Decimal(total),
        "currency": currency,
        "placed_in": "monolith",
        "created_at": created_at,
    }
    if idempotency_key:
        defaults |= {"idempotency_key": idempotency_key, "request_fingerprint": request_fingerprint}
    order, created = Order.objects.update_or_create(pk=order_id, defaults=defaults)
    if created or not order.lines.exists():
        OrderLine.objects.filter(order=order).delete()
        OrderLine.objects.bulk_create(
            [
                OrderLine(
                    order=order,
                    sku=line["sku"],
                    name=line["name"],
                    unit_price=Decimal(line["unit_price"]),
                    quantity=line["quantity"],
                )
                for line in lines
            ]
        )
    if created:
        id_sequence_catch_up(Order)
    return order


def order_apply_placed(event: OrderPlacedV1, *, occurred_at: datetime) -> None:
    order_apply_snapshot(
        order_id=event.order_id,
        customer_id=event.customer_id,
        status=event.status,
        total=event.total,
        currency=event.currency,
        lines=[line.__dict__ for line in event.lines],
        created_at=occurred_at,
    )


def order_apply_status(*, order_id: int, status: str) -> None:
    Order.objects.filter(pk=order_id).update(status=status)
