"""A fake payment provider, idempotent per order, that can be told what to do.

`behaviour` (the command's, else `settings.FAKE_PAYMENT_DEFAULT`) is a comma list:
`succeed` | `decline` | `fail` | `hang` (never answers the charge), plus `refund-fails-once`
(the first refund for the order is refused, so the saga must ask again).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from contracts.checkout import PaymentRequestedV1, RefundRequestedV1
from contracts.payments import (
    PaymentCapturedV1,
    PaymentDeclinedV1,
    PaymentFailedV1,
    PaymentRefundedV1,
    PaymentRefundFailedV1,
)
from extracted.orders.payments.models import Payment, PaymentStatus
from servicekit.events.outbox import outbox_enqueue

OUTCOMES = {"succeed", "decline", "fail", "hang"}
FLAGS = {"refund-fails-once"}


def parse_behaviour(raw: str) -> set[str]:
    """The words of a behaviour; ValueError names an unknown one."""
    words = {w.strip() for w in raw.split(",") if w.strip()}
    unknown = words - OUTCOMES - FLAGS
    if unknown or len(words & OUTCOMES) > 1:
        raise ValueError(f"unknown fake payment behaviour {raw!r}")
    return words


def _reply(payment: Payment) -> None:
    if payment.status == PaymentStatus.CAPTURED:
        outbox_enqueue(
            PaymentCapturedV1(
                order_id=payment.order_id, amount=str(payment.amount), currency=payment.currency
            )
        )
    elif payment.status == PaymentStatus.DECLINED:
        outbox_enqueue(PaymentDeclinedV1(order_id=payment.order_id, reason="payment declined"))
    elif payment.status == PaymentStatus.FAILED:
        outbox_enqueue(PaymentFailedV1(order_id=payment.order_id, reason="payment failed"))


def payment_charge(command: PaymentRequestedV1) -> None:
    """Call inside the inbox's transaction. A repeated command answers as the first did."""
    existing = Payment.objects.select_for_update().filter(order_id=command.order_id).first()
    if existing is not None:
        _reply(existing)  # a hung or voided payment stays silent
        return
    behaviour = command.behaviour or settings.FAKE_PAYMENT_DEFAULT
    words = parse_behaviour(behaviour)
    status = {
        "decline": PaymentStatus.DECLINED,
        "fail": PaymentStatus.FAILED,
        "hang": PaymentStatus.HUNG,
    }.get(next(iter(words & OUTCOMES), "succeed"), PaymentStatus.CAPTURED)
    payment = Payment.objects.create(
        order_id=command.order_id,
        customer_id=command.customer_id,
        amount=Decimal(command.amount),
        currency=command.currency,
        status=status,
        behaviour=behaviour,
    )
    _reply(payment)


def payment_refund(command: RefundRequestedV1) -> None:
    """Give back what was charged; a charge that never completed is voided (amount 0)."""
    payment = Payment.objects.select_for_update().filter(order_id=command.order_id).first()
    if payment is None:
        payment = Payment.objects.create(
            order_id=command.order_id,
            customer_id=0,
            amount=Decimal("0.00"),
            currency="",
            status=PaymentStatus.VOIDED,
        )
    if "refund-fails-once" in parse_behaviour(payment.behaviour) and not payment.refund_failures:
        payment.refund_failures = 1
        payment.save(update_fields=["refund_failures", "updated_at"])
        outbox_enqueue(
            PaymentRefundFailedV1(order_id=payment.order_id, reason="provider unavailable")
        )
        return
    refunded = Decimal("0.00")
    if payment.status == PaymentStatus.CAPTURED:
        payment.status, refunded = PaymentStatus.REFUNDED, payment.amount
    elif payment.status in (PaymentStatus.HUNG, PaymentStatus.DECLINED, PaymentStatus.FAILED):
        payment.status = PaymentStatus.VOIDED
    elif payment.status == PaymentStatus.REFUNDED:
        refunded = payment.amount
    payment.save(update_fields=["status", "updated_at"])
    outbox_enqueue(PaymentRefundedV1(order_id=payment.order_id, amount=str(refunded)))
