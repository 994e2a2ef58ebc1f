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


class StockEvent(models.Model):
    """The event store of stock per sku (stock/aggregate.py): append-only, one row per event.

    The unique (aggregate_id, version) is the optimistic lock: two writers that read the same
    version cannot both append the next one (stock/eventstore.py).
    """

    aggregate_id = models.CharField(max_length=32)  # the sku
    version = models.PositiveIntegerField()
    type = models.CharField(max_length=16)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["aggregate_id", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["aggregate_id", "version"], name="stock_event_aggregate_version_unique"
            )
        ]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("stock events are append-only: append a new one instead")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("stock events are append-only: append a new one instead")


class StockSnapshot(models.Model):
    """A sku's folded state at `version`, written every few events so a load folds few."""

    aggregate_id = models.CharField(max_length=32)
    version = models.PositiveIntegerField()
    state = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["aggregate_id", "version"], name="stock_snapshot_aggregate_version_unique"
            )
        ]
