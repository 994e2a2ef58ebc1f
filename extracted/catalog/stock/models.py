"""Stock held for orders: one reservation per order, the checkout saga's record here."""

from django.db import models


class ReservationState(models.TextChoices):
    RESERVED = "reserved", "Reserved (held, counted in Inventory.reserved)"
    FAILED = "failed", "Failed (not enough stock, nothing held)"
    RELEASED = "released", "Released (given back)"
    COMMITTED = "committed", "Committed (sold: left on hand and reserved)"
    RETURNED = "returned", "Returned (sold units back on hand)"


class StockReservation(models.Model):
    order_id = models.BigIntegerField(unique=True)
    # [{"sku": ..., "quantity": ...}]: what this order holds or sold.
    lines = models.JSONField(default=list)
    state = models.CharField(max_length=16, choices=ReservationState.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
