"""The orders service's orders (the write model), its saga state and its product replica."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CONFIRMED = "confirmed", "Confirmed"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"


TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED}),
    OrderStatus.CONFIRMED: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


class Product(models.Model):
    """A replica of the catalog's products (from `catalog.*` events): enough to price an order
    and pre-check stock without calling the catalog service."""

    sku = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")
    is_active = models.BooleanField(default=True)
    available = models.IntegerField(default=0)


class Order(models.Model):
    # The user lives in the identity service: keep the id the token named.
    customer_id = models.BigIntegerField()
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.PENDING
    )
    total = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    # Placed here (with a saga) or copied from the monolith (no saga: stock taken, no payment).
    placed_in = models.CharField(max_length=16, default="orders")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer_id", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="orders_unique_idempotency_key_per_customer",
            )
        ]
        indexes = [models.Index(fields=["customer_id", "-created_at"])]


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]

    @property
    def line_total(self):
        return self.unit_price * self.quantity


class SagaStep(models.TextChoices):
    RESERVING = "reserving", "Reserving stock"
    PAYING = "paying", "Taking payment"
    COMMITTING = "committing", "Committing stock"
    REFUNDING = "refunding", "Refunding (compensation)"
    RELEASING = "releasing", "Releasing stock (compensation)"
    RETURNING = "returning", "Returning stock (compensation)"
    CONFIRMED = "confirmed", "Done: confirmed"
    CANCELLED = "cancelled", "Done: cancelled and compensated"


TERMINAL_STEPS = frozenset({SagaStep.CONFIRMED, SagaStep.CANCELLED})


class Saga(models.Model):
    """The checkout saga of one order: which step waits for which reply, until when.

    Every change to it commits with the commands it sends (outbox) and the reply it consumed
    (inbox), so a process killed anywhere resumes from the last committed step.
    """

    order = models.OneToOneField(Order, on_delete=models.CASCADE, primary_key=True)
    step = models.CharField(max_length=16, choices=SagaStep.choices)
    deadline = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    payment_behaviour = models.CharField(max_length=64, blank=True)
    paid = models.BooleanField(default=False)
    stock_committed = models.BooleanField(default=False)
    cancel_requested = models.BooleanField(default=False)
    failure_reason = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["deadline"])]
