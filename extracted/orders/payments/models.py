"""The fake payment provider's ledger: one payment per order."""

from django.db import models


class PaymentStatus(models.TextChoices):
    CAPTURED = "captured", "Captured"
    DECLINED = "declined", "Declined"
    FAILED = "failed", "Failed"
    HUNG = "hung", "Hung (never answered)"
    REFUNDED = "refunded", "Refunded"
    VOIDED = "voided", "Voided (nothing charged)"


class Payment(models.Model):
    order_id = models.BigIntegerField(unique=True)
    customer_id = models.BigIntegerField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=PaymentStatus.choices)
    behaviour = models.CharField(max_length=64, blank=True)
    refund_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
