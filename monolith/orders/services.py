"""Placing, confirming and cancelling orders; stock and outbox in the same transaction."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

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
from servicekit.migration.sequences import id_sequence_catch_up
from servicekit.web.errors import ApplicationError, InvalidInputError, transaction_conflict

MAX_LINES = 50
# A deadlock PostgreSQL broke by aborting the placing transaction (its commit-time foreign-key
# check waits on a product row a catalog mirror update holds, which waits on the inventory row the
# order took), or a serialization failure: nothing of it was applied, so it is placed again, this
# many times at most, then refused as TransactionConflict (503 with Retry-After on the API).
DEADLOCK_RETRIES = 2


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
        return _order_create_retrying_deadlocks(
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


def _order_create_retrying_deadlocks(**kwargs) -> Order:
    """`_order_create`, run again when the database aborted it to break a deadlock (only where
    it is the whole transaction: inside a caller's atomic block the caller's work is lost too)."""
    retries = 0
    while True:
        try:
            return _order_create(**kwargs)
        except OperationalError as exc:
            conflict = transaction_conflict(exc)
            if conflict is None or connection.in_atomic_block:
                raise
            if retries == DEADLOCK_RETRIES:
                raise conflict from exc  # 503 with Retry-After on the API, a message on the page
            retries += 1


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


# --- mirroring the orders service's orders while it owns them (chapter 07's rollback) ---------
# The inbox (monolith/orders/consumers.py) and the hand-back's drain (orders_takeover) call
# these inside their transaction. No stock moves and no event: the owner emitted the order's
# events, and the stock it sold reaches the monolith as the catalog service's stock events.


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
    """Create or refresh the monolith's copy of an order (same id): status, lines with their
    price snapshots (rewritten only where they differ) and, when given, its Idempotency-Key.
    Idempotent, one order at a time: a reconciler repairs an order through it."""
    if not get_user_model().objects.filter(pk=customer_id).exists():
        # an account made in the users service reaches the monolith on its own stream: the
        # inbox retries this order until it has (a foreign key would only fail at commit)
        raise LookupError(f"order {order_id}: customer {customer_id} not mirrored yet")
    defaults = {
        "customer_id": customer_id,
        "status": status,
        "total": Decimal(total),
        "currency": currency,
    }
    if idempotency_key:
        defaults |= {"idempotency_key": idempotency_key, "request_fingerprint": request_fingerprint}
    order, created = Order.objects.update_or_create(pk=order_id, defaults=defaults)
    if order.created_at != created_at:  # auto_now_add: the copy keeps the owner's time
        Order.objects.filter(pk=order_id).update(created_at=created_at)
    wanted = [
        (line["sku"], line["name"], Decimal(line["unit_price"]), line["quantity"]) for line in lines
    ]
    if list(order.lines.values_list("sku", "name", "unit_price", "quantity")) != wanted:
        skus = [line["sku"] for line in lines]
        products = catalog_selectors.products_by_sku(skus=skus, active_only=False)
        if missing := sorted(set(skus) - set(products)):
            # the catalog's events create products here first; retried until they have
            raise LookupError(f"order {order_id}: products not mirrored yet: {missing}")
        OrderLine.objects.filter(order=order).delete()
        OrderLine.objects.bulk_create(
            [
                OrderLine(
                    order=order,
                    product=products[line["sku"]],
                    sku=line["sku"],
                    name=line["name"],
                    unit_price=Decimal(line["unit_price"]),
                    quantity=line["quantity"],
                )
                for line in lines
            ]
        )
    if created:
        id_sequence_catch_up(Order)  # the monolith's next own order gets an id above the copies
    return order


def order_apply_placed(event: OrderPlacedV1, *, occurred_at: datetime) -> Order:
    return order_apply_snapshot(
        order_id=event.order_id,
        customer_id=event.customer_id,
        status=event.status,
        total=event.total,
        currency=event.currency,
        lines=[line.__dict__ for line in event.lines],
        created_at=occurred_at,
    )


def order_apply_status(*, order_id: int, status: str) -> None:
    """The owner moved an order: the event follows its placement on the same stream."""
    Order.objects.filter(pk=order_id).update(status=status, updated_at=timezone.now())
