"""The checkout saga's stock commands, handled by the owner of inventory.

Each is idempotent per order (the reservation row is the record) and answers with a reply event
on the `stock.*` stream, plus the usual `catalog.stock_changed` for every product it moved (the
monolith's and the orders service's copies follow stock through those). Stock itself is an
event-sourced aggregate per sku (stock/aggregate.py): each command appends events to the skus'
streams (stock/eventstore.py), which keep the `Inventory` levels in step. Units:
reserve: reserved += q (all or none, only while available); release: reserved -= q;
commit: on_hand -= q and reserved -= q (sold); return: on_hand += q.
"""

from __future__ import annotations

from django.db import transaction

from contracts.checkout import (
    StockCommitRequestedV1,
    StockReleaseRequestedV1,
    StockReserveRequestedV1,
    StockReturnRequestedV1,
)
from contracts.stock import (
    ShortageV1,
    StockCommittedV1,
    StockReleasedV1,
    StockReservationFailedV1,
    StockReservedV1,
    StockReturnedV1,
)
from extracted.catalog.products.models import Inventory, Product
from extracted.catalog.stock import aggregate
from extracted.catalog.stock.aggregate import StockState
from extracted.catalog.stock.eventstore import stock_change
from extracted.catalog.stock.models import ReservationState, StockReservation
from servicekit.events.outbox import outbox_enqueue
from servicekit.migration.ownership import require_ownership
from servicekit.web.errors import NotFoundError


class _Short(Exception):
    pass


def _quantities(lines) -> dict[str, int]:
    merged: dict[str, int] = {}
    for line in lines:
        sku, quantity = (
            (line.sku, line.quantity) if hasattr(line, "sku") else (line["sku"], line["quantity"])
        )
        merged[sku] = merged.get(sku, 0) + quantity
    return merged


def _inventories(skus) -> list[Inventory]:
    # Visit rows in product id order, like the monolith's stock_take: no deadlocks.
    return list(
        Inventory.objects.select_related("product")
        .filter(product__sku__in=list(skus))
        .order_by("product_id")
    )


def _move(quantities: dict[str, int], event, *, order_id: int, reason: str) -> None:
    """Append `event(quantity, order_id=...)` to each sku's stream, in product id order."""
    for inventory in _inventories(quantities):
        sku = inventory.product.sku
        stock_change(
            sku=sku,
            decide=lambda state, q=quantities[sku]: [event(q, order_id=order_id)],
            reason=f"order:{order_id}:{reason}",
        )


def _reservation(order_id: int) -> StockReservation | None:
    return StockReservation.objects.select_for_update().filter(order_id=order_id).first()


def stock_reserve(command: StockReserveRequestedV1) -> None:
    """Hold every line for the order or none (each row by one conditional UPDATE)."""
    require_ownership("inventory")
    reservation = _reservation(command.order_id)
    if reservation is not None:
        if reservation.state == ReservationState.FAILED:
            outbox_enqueue(StockReservationFailedV1(order_id=command.order_id, shortages=()))
        elif reservation.state != ReservationState.RELEASED:
            outbox_enqueue(StockReservedV1(order_id=command.order_id))
        return
    quantities = _quantities(command.lines)
    known = {p.sku: p.pk for p in Product.objects.filter(sku__in=list(quantities))}
    shortages: list[str] = []

    def hold(state: StockState, sku: str) -> list[aggregate.StockEventData]:
        if state.available < quantities[sku]:
            shortages.append(sku)
            return []
        return [aggregate.reserved(quantities[sku], order_id=command.order_id)]

    try:
        with transaction.atomic():
            for sku in sorted(quantities, key=lambda s: known.get(s, 0)):
                if sku not in known:
                    shortages.append(sku)
                    continue
                stock_change(
                    sku=sku,
                    decide=lambda state, sku=sku: hold(state, sku),
                    reason=f"order:{command.order_id}:reserved",
                )
            if shortages:
                raise _Short
    except _Short:
        available = {i.product.sku: i.available for i in _inventories(shortages)}
        StockReservation.objects.create(
            order_id=command.order_id,
            lines=[{"sku": s, "quantity": q} for s, q in sorted(quantities.items())],
            state=ReservationState.FAILED,
        )
        outbox_enqueue(
            StockReservationFailedV1(
                order_id=command.order_id,
                shortages=tuple(
                    ShortageV1(sku=s, requested=quantities[s], available=available.get(s, 0))
                    for s in sorted(shortages)
                ),
            )
        )
        return
    StockReservation.objects.create(
        order_id=command.order_id,
        lines=[{"sku": s, "quantity": q} for s, q in sorted(quantities.items())],
        state=ReservationState.RESERVED,
    )
    outbox_enqueue(StockReservedV1(order_id=command.order_id))


def stock_release(command: StockReleaseRequestedV1) -> None:
    """Give back a reservation; releasing one that failed (or never came) holds nothing."""
    require_ownership("inventory")
    reservation = _reservation(command.order_id)
    if reservation is None:
        StockReservation.objects.create(
            order_id=command.order_id, lines=[], state=ReservationState.RELEASED
        )
    elif reservation.state == ReservationState.RESERVED:
        _move(
            _quantities(reservation.lines),
            aggregate.released,
            order_id=command.order_id,
            reason="released",
        )
        reservation.state = ReservationState.RELEASED
        reservation.save(update_fields=["state", "updated_at"])
    elif reservation.state == ReservationState.FAILED:
        reservation.state = ReservationState.RELEASED
        reservation.save(update_fields=["state", "updated_at"])
    elif reservation.state in (ReservationState.COMMITTED, ReservationState.RETURNED):
        raise ValueError(f"order {command.order_id}: cannot release a sold reservation")
    outbox_enqueue(StockReleasedV1(order_id=command.order_id))


def stock_commit(command: StockCommitRequestedV1) -> None:
    """The order is paid: its reserved units leave the shelf."""
    require_ownership("inventory")
    reservation = _reservation(command.order_id)
    if reservation is None or reservation.state not in (
        ReservationState.RESERVED,
        ReservationState.COMMITTED,
    ):
        state = reservation.state if reservation else "missing"
        raise ValueError(f"order {command.order_id}: cannot commit a {state} reservation")
    if reservation.state == ReservationState.RESERVED:
        _move(
            _quantities(reservation.lines),
            aggregate.committed,
            order_id=command.order_id,
            reason="sold",
        )
        reservation.state = ReservationState.COMMITTED
        reservation.save(update_fields=["state", "updated_at"])
    outbox_enqueue(StockCommittedV1(order_id=command.order_id))


def stock_return(command: StockReturnRequestedV1) -> None:
    """A sold order is cancelled: its units go back on the shelf. An order placed in the
    monolith has no reservation here (the monolith took its stock): the command's lines say
    what to put back."""
    require_ownership("inventory")
    reservation = _reservation(command.order_id)
    if reservation is not None and reservation.state == ReservationState.RETURNED:
        outbox_enqueue(StockReturnedV1(order_id=command.order_id))
        return
    if reservation is not None and reservation.state != ReservationState.COMMITTED:
        raise ValueError(f"order {command.order_id}: cannot return a {reservation.state} one")
    if reservation is None:
        reservation = StockReservation(
            order_id=command.order_id,
            lines=[{"sku": line.sku, "quantity": line.quantity} for line in command.lines],
        )
    _move(
        _quantities(reservation.lines),
        aggregate.returned,
        order_id=command.order_id,
        reason="returned",
    )
    reservation.state = ReservationState.RETURNED
    reservation.save()
    outbox_enqueue(StockReturnedV1(order_id=command.order_id))


def stock_receive(*, sku: str, quantity: int) -> StockState:
    """Goods in: `quantity` more units of `sku` on the shelf."""
    require_ownership("inventory")
    if quantity <= 0:
        raise ValueError(f"receive a positive quantity, not {quantity}")
    if not Inventory.objects.filter(product__sku=sku).exists():
        raise NotFoundError(f"No product with sku {sku!r}.")
    return stock_change(
        sku=sku, decide=lambda state: [aggregate.received(quantity)], reason="received"
    )
