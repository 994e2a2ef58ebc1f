"""The order history read model (CQRS): one denormalised row per order, built from events."""

from django.db import models


class OrderHistory(models.Model):
    order_id = models.BigIntegerField(primary_key=True)
    customer_id = models.BigIntegerField(db_index=True)
    status = models.CharField(max_length=16)
    total = models.CharField(max_length=20)
    currency = models.CharField(max_length=3)
    # [{sku, name, unit_price, quantity, line_total}] as the API shows them (money as strings).
    lines = models.JSONField(default=list)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-order_id"]
        indexes = [models.Index(fields=["customer_id", "-created_at"])]
