"""The checkout saga, orchestrated: each reply or timeout moves one order's saga one step.

    pending --reserve--> reserved --charge--> captured --commit--> confirmed
       |                    |  declined/failed    |
       v (short)            v                     |  (customer cancels: refund, return)
    cancelled <--release-- (refund if it may have charged) <-- timeout

Compensation runs in reverse: refund, release the reservation (or return sold units), then the
order is cancelled. Call every function inside a transaction (the inbox's or the sweeper's):
the saga row is locked, its new step and the next command commit together. A reply that does
not match the current step is late and ignored: the command that compensates it was queued
after the one it answers, on the same stream, so the receiver handles both in order.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from django.conf import settings
from django.utils import timezone

from contracts.checkout import (
    PaymentRequestedV1,
    RefundRequestedV1,
    StockCommitRequestedV1,
    StockLineV1,
    StockReleaseRequestedV1,
    StockReserveRequestedV1,
    StockReturnRequestedV1,
)
from contracts.orders import OrderCancelledV1, OrderConfirmedV1
from extracted.orders.orders.models import Order, OrderStatus, Saga, SagaStep
from servicekit.events.outbox import outbox_enqueue

logger = structlog.get_logger("orders.saga")

MAX_BACKOFF_FACTOR = 8


def _deadline(saga: Saga) -> timezone.datetime:
    factor = min(2**saga.attempts, MAX_BACKOFF_FACTOR)
    return timezone.now() + timedelta(seconds=settings.SAGA_STEP_TIMEOUT * factor)


def _lines(order: Order) -> tuple[StockLineV1, ...]:
    return tuple(StockLineV1(sku=line.sku, quantity=line.quantity) for line in order.lines.all())


def _move(saga: Saga, step: str, *, why: str) -> None:
    logger.info("saga.step", order_id=saga.order_id, from_step=saga.step, to_step=step, why=why)
    saga.step = step
    saga.attempts = 0
    saga.deadline = None if step in (SagaStep.CONFIRMED, SagaStep.CANCELLED) else _deadline(saga)
    saga.save()


def _send(saga: Saga) -> None:
    """The command of the current step (sent on entering it, and again when it times out)."""
    order = saga.order
    if saga.step == SagaStep.RESERVING:
        outbox_enqueue(StockReserveRequestedV1(order_id=order.pk, lines=_lines(order)))
    elif saga.step == SagaStep.PAYING:
        outbox_enqueue(
            PaymentRequestedV1(
                order_id=order.pk,
                customer_id=order.customer_id,
                amount=str(order.total),
                currency=order.currency,
                behaviour=saga.payment_behaviour,
            )
        )
    elif saga.step == SagaStep.COMMITTING:
        outbox_enqueue(StockCommitRequestedV1(order_id=order.pk, lines=_lines(order)))
    elif saga.step == SagaStep.REFUNDING:
        outbox_enqueue(
            RefundRequestedV1(order_id=order.pk, reason=saga.failure_reason or "cancelled")
        )
    elif saga.step == SagaStep.RELEASING:
        outbox_enqueue(StockReleaseRequestedV1(order_id=order.pk, lines=_lines(order)))
    elif saga.step == SagaStep.RETURNING:
        outbox_enqueue(StockReturnRequestedV1(order_id=order.pk, lines=_lines(order)))


def _go(saga: Saga, step: str, *, why: str) -> None:
    _move(saga, step, why=why)
    _send(saga)


def _locked(order_id: int) -> Saga | None:
    return Saga.objects.select_for_update().select_related("order").filter(pk=order_id).first()


def _order_cancel(order: Order, reason: str) -> None:
    if order.status == OrderStatus.CANCELLED:
        return
    order.status = OrderStatus.CANCELLED
    order.save(update_fields=["status", "updated_at"])
    outbox_enqueue(
        OrderCancelledV1(order_id=order.pk, customer_id=order.customer_id, reason=reason)
    )


def _compensate(saga: Saga, reason: str) -> None:
    """Undo in reverse from where the saga stands: refund if a charge may exist, then stock."""
    saga.failure_reason = saga.failure_reason or reason
    if saga.step in (SagaStep.PAYING, SagaStep.CONFIRMED) or saga.paid:
        _go(saga, SagaStep.REFUNDING, why=reason)
    elif saga.stock_committed:
        _go(saga, SagaStep.RETURNING, why=reason)
    else:
        _go(saga, SagaStep.RELEASING, why=reason)


# --- starting ---------------------------------------------------------------------------------


def saga_start(*, order: Order, payment_behaviour: str = "") -> Saga:
    saga = Saga(order=order, step=SagaStep.RESERVING, payment_behaviour=payment_behaviour)
    saga.deadline = _deadline(saga)
    saga.save()
    _send(saga)
    return saga


def saga_cancel(*, order: Order, reason: str) -> None:
    """The customer or staff cancel: the order is cancelled now, compensation follows."""
    saga = _locked(order.pk)
    if saga is None:
        # Placed in the monolith before the split: its stock was taken, nothing was charged.
        saga = Saga.objects.create(
            order=order, step=SagaStep.CONFIRMED, stock_committed=True, failure_reason=reason
        )
        _go(saga, SagaStep.RETURNING, why=reason)
    elif saga.step == SagaStep.COMMITTING:
        saga.cancel_requested = True  # the commit is in flight: compensate once it lands
        saga.failure_reason = reason
        saga.save(update_fields=["cancel_requested", "failure_reason", "updated_at"])
    elif saga.step in (SagaStep.RESERVING, SagaStep.PAYING, SagaStep.CONFIRMED):
        _compensate(saga, reason)
    # already compensating: it ends cancelled anyway
    _order_cancel(order, reason)


# --- replies ----------------------------------------------------------------------------------


def _expecting(order_id: int, step: str, reply: str) -> Saga | None:
    saga = _locked(order_id)
    if saga is None or saga.step != step:
        logger.info(
            "saga.late_reply",
            order_id=order_id,
            reply=reply,
            step=saga.step if saga else None,
        )
        return None
    return saga


def on_stock_reserved(order_id: int) -> None:
    if saga := _expecting(order_id, SagaStep.RESERVING, "reserved"):
        _go(saga, SagaStep.PAYING, why="stock reserved")


def on_stock_reservation_failed(order_id: int, shortages: list[dict]) -> None:
    if saga := _expecting(order_id, SagaStep.RESERVING, "reservation_failed"):
        saga.failure_reason = "insufficient stock: " + ", ".join(s["sku"] for s in shortages)
        _move(saga, SagaStep.CANCELLED, why=saga.failure_reason)
        _order_cancel(saga.order, saga.failure_reason)


def on_payment_captured(order_id: int) -> None:
    if saga := _expecting(order_id, SagaStep.PAYING, "captured"):
        saga.paid = True
        _go(saga, SagaStep.COMMITTING, why="payment captured")


def on_payment_refused(order_id: int, reason: str) -> None:
    if saga := _expecting(order_id, SagaStep.PAYING, "refused"):
        saga.failure_reason = reason
        _go(saga, SagaStep.RELEASING, why=reason)  # nothing was charged


def on_stock_committed(order_id: int) -> None:
    if saga := _expecting(order_id, SagaStep.COMMITTING, "committed"):
        saga.stock_committed = True
        if saga.cancel_requested:
            _go(saga, SagaStep.REFUNDING, why=saga.failure_reason)
            return
        _move(saga, SagaStep.CONFIRMED, why="stock committed")
        order = saga.order
        order.status = OrderStatus.CONFIRMED
        order.save(update_fields=["status", "updated_at"])
        outbox_enqueue(OrderConfirmedV1(order_id=order.pk, customer_id=order.customer_id))


def on_payment_refunded(order_id: int) -> None:
    if saga := _expecting(order_id, SagaStep.REFUNDING, "refunded"):
        saga.paid = False
        next_step = SagaStep.RETURNING if saga.stock_committed else SagaStep.RELEASING
        _go(saga, next_step, why="refunded")


def on_refund_failed(order_id: int, reason: str) -> None:
    if saga := _expecting(order_id, SagaStep.REFUNDING, "refund_failed"):
        saga.attempts += 1
        saga.deadline = _deadline(saga)
        saga.save(update_fields=["attempts", "deadline", "updated_at"])
        logger.warning("saga.compensation_retried", order_id=order_id, reason=reason)
        _send(saga)


def on_stock_released(order_id: int) -> None:
    if saga := _expecting(order_id, SagaStep.RELEASING, "released"):
        _move(saga, SagaStep.CANCELLED, why="stock released")
        _order_cancel(saga.order, saga.failure_reason or "cancelled")


def on_stock_returned(order_id: int) -> None:
    if saga := _expecting(order_id, SagaStep.RETURNING, "returned"):
        _move(saga, SagaStep.CANCELLED, why="stock returned")
        _order_cancel(saga.order, saga.failure_reason or "cancelled")


# --- timeouts ---------------------------------------------------------------------------------


def saga_time_out(order_id: int) -> bool:
    """A step passed its deadline: give up forward steps that may never answer; ask again for
    the ones that must complete (commit, compensations). True when something was done."""
    saga = _locked(order_id)
    if saga is None or saga.deadline is None or saga.deadline > timezone.now():
        return False
    logger.warning("saga.timeout", order_id=order_id, step=saga.step, attempts=saga.attempts)
    if saga.step == SagaStep.RESERVING:
        _compensate(saga, "stock reservation timed out")
    elif saga.step == SagaStep.PAYING:
        _compensate(saga, "payment timed out")
    else:
        saga.attempts += 1
        saga.deadline = _deadline(saga)
        saga.save(update_fields=["attempts", "deadline", "updated_at"])
        _send(saga)
    return True


def saga_sweep(*, limit: int = 100) -> int:
    """Time out every saga past its deadline, each in its own transaction. Returns how many."""
    from django.db import transaction

    due = list(
        Saga.objects.filter(deadline__lte=timezone.now())
        .order_by("deadline")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for order_id in due:
        with transaction.atomic():
            done += int(saga_time_out(order_id))
    return done
