"""Inbox tables: applied events, the per-aggregate cursor, and events parked for later."""

from __future__ import annotations

from django.db import models

from servicekit.events.envelope import Envelope


class InboxMessage(models.Model):
    """(consumer, event id) of an applied event, written in the handler's own transaction."""

    consumer = models.CharField(max_length=100)
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=200)
    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=200)
    sequence = models.PositiveBigIntegerField()
    applied_at = models.DateTimeField()

    class Meta:
        db_table = "servicekit_inbox_message"
        constraints = [
            models.UniqueConstraint(fields=["consumer", "event_id"], name="inbox_unique_event")
        ]
        indexes = [models.Index(fields=["applied_at"], name="inbox_applied_at")]

    def __str__(self) -> str:
        return f"{self.consumer}: {self.event_type} {self.event_id}"


class InboxCursor(models.Model):
    """The last sequence a consumer applied per aggregate: the next one to apply is +1."""

    consumer = models.CharField(max_length=100)
    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=200)
    last_sequence = models.PositiveBigIntegerField(default=0)

    class Meta:
        db_table = "servicekit_inbox_cursor"
        constraints = [
            models.UniqueConstraint(
                fields=["consumer", "aggregate_type", "aggregate_id"], name="inbox_unique_cursor"
            )
        ]

    def __str__(self) -> str:
        return f"{self.consumer}: {self.aggregate_type}:{self.aggregate_id}@{self.last_sequence}"


class ParkedReason(models.TextChoices):
    OUT_OF_ORDER = "out_of_order"  # waits for its predecessor
    FAILED = "failed"  # its handler raised; retried with backoff
    DEAD = "dead"  # failed too often; blocks its aggregate until replayed


class InboxParked(models.Model):
    """An event that could not be applied yet; acknowledged to the broker, kept here instead."""

    consumer = models.CharField(max_length=100)
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=200)
    aggregate_type = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=200)
    sequence = models.PositiveBigIntegerField()
    envelope = models.JSONField()
    reason = models.CharField(max_length=20, choices=ParkedReason.choices)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True, default="")
    parked_at = models.DateTimeField()
    gap_reported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "servicekit_inbox_parked"
        constraints = [
            models.UniqueConstraint(fields=["consumer", "event_id"], name="inbox_parked_unique")
        ]
        indexes = [
            models.Index(
                fields=["consumer", "aggregate_type", "aggregate_id", "sequence"],
                name="inbox_parked_aggregate",
            )
        ]

    def __str__(self) -> str:
        return f"{self.consumer}: {self.reason} {self.event_type} #{self.sequence}"

    def to_envelope(self) -> Envelope:
        return Envelope.from_dict(self.envelope)
