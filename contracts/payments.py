"""Replies of the (fake) payment provider to the checkout saga (aggregate: payment, by order)."""

from __future__ import annotations

from dataclasses import dataclass

from servicekit.events.event import Event


@dataclass(frozen=True)
class _PaymentEvent(Event):
    aggregate_type = "payment"

    order_id: int

    @property
    def aggregate_id(self) -> str:
        return str(self.order_id)


@dataclass(frozen=True)
class PaymentCapturedV1(_PaymentEvent):
    event_type = "payments.payment_captured.v1"

    amount: str
    currency: str


@dataclass(frozen=True)
class PaymentDeclinedV1(_PaymentEvent):
    """The card was refused: final, nothing was charged."""

    event_type = "payments.payment_declined.v1"

    reason: str


@dataclass(frozen=True)
class PaymentFailedV1(_PaymentEvent):
    """The provider failed to process the charge: nothing was charged."""

    event_type = "payments.payment_failed.v1"

    reason: str


@dataclass(frozen=True)
class PaymentRefundedV1(_PaymentEvent):
    """Whatever was charged is given back (amount 0.00 when nothing was)."""

    event_type = "payments.payment_refunded.v1"

    amount: str


@dataclass(frozen=True)
class PaymentRefundFailedV1(_PaymentEvent):
    """The refund did not go through this time; the saga asks again."""

    event_type = "payments.refund_failed.v1"

    reason: str
