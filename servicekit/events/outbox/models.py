"""Outbox rows (one per event, written with the business change) and per-aggregate counters."""

from __future__ import annotations

from django.db import models

from servicekit.events.envelope import Envelope


class OutboxStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


def envelope_of(row) -> Envelope:
    """The envelope of an outbox row (a model instance, or the relay's lighter claimed row)."""
    return Envelope(
        event_id=row.event_id,
        event_type=row.event_type,
        aggregate_type=row.aggregate_type,
        aggregate_id=row.aggregate_id,
        sequence=row.sequence,
        occurred_at=row.occurred_at,
        origin=row.origin,
        correlation_id=row.correlation_id,
        traceparent=row.traceparent,
        tracestate=row.tracestate,
        payload=row.payload,
    )


class OutboxMessage(models.Model):
    """An event waiting for (or done with) the relay.

    A row is `pending` until the broker confirmed it, then `sent`; after too many failed
    publishes it is `dead` and blocks the later events of its aggregate until replayed, so a
    consumer never sees the aggregate's history with a hole in it.
    """

    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=200)
    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=200)
    sequence = models.PositiveBigIntegerField()
    occurred_at = models.DateTimeField()
    origin = models.CharField(max_length=100)
    correlation_id = models.CharField(max_length=128, blank=True, default="")
    traceparent = models.CharField(max_length=128, blank=True, default="")
    tracestate = models.CharField(max_length=512, blank=True, default="")
    payload = models.JSONField()

    status = models.CharField(
        max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_by = models.CharField(max_length=100, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "servicekit_outbox_message"
        constraints = [
            models.UniqueConstraint(
                fields=["aggregate_type", "aggregate_id", "sequence"],
                name="outbox_unique_aggregate_sequence",
            )
        ]
        indexes = [
            models.Index(fields=["status", "id"], name="outbox_status_id"),
            models.Index(fields=["status", "sent_at"], name="outbox_status_sent_at"),
            # The relay's claim: pending rows in id order, and an aggregate's unsent rows. Small
            # partial indexes keep its plans cheap however stale the statistics are.
            models.Index(
                fields=["id"], condition=models.Q(status="pending"), name="outbox_pending_id"
            ),
            models.Index(
                fields=["aggregate_type", "aggregate_id", "sequence"],
                condition=models.Q(status__in=["pending", "dead"]),
                name="outbox_unsent_aggregate",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.aggregate_type}:{self.aggregate_id}#{self.sequence}"

    def to_envelope(self) -> Envelope:
        return envelope_of(self)


class AggregateSequence(models.Model):
    """The last sequence number handed out per aggregate (outlives cleaned-up outbox rows)."""

    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=200)
    last_sequence = models.PositiveBigIntegerField(default=0)

    class Meta:
        db_table = "servicekit_outbox_sequence"
        constraints = [
            models.UniqueConstraint(
                fields=["aggregate_type", "aggregate_id"], name="outbox_sequence_unique_aggregate"
            )
        ]

    def __str__(self) -> str:
        return f"{self.aggregate_type}:{self.aggregate_id}@{self.last_sequence}"
