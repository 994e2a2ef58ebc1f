"""An in-process relay for tests that are about what a consumer does, not about transport:
hand the pending outbox rows bound for a consumer's queue straight to its inbox. The real
relay, broker and consumer processes are exercised in tests/events."""

from __future__ import annotations

from contracts.topology import SUBSCRIPTIONS
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import get_consumer
from servicekit.events.outbox.models import OutboxMessage, OutboxStatus


def _bound(event_type: str, bindings: tuple[str, ...]) -> bool:
    for binding in bindings:
        if binding.endswith(".#") and event_type.startswith(binding[:-1]):
            return True
        if binding == event_type:
            return True
    return False


def deliver(consumer: str) -> int:
    """Process every pending outbox row the consumer's queue is bound to; returns how many."""
    bindings = SUBSCRIPTIONS[consumer]
    rows = [
        row
        for row in OutboxMessage.objects.filter(status=OutboxStatus.PENDING).order_by("id")
        if _bound(row.event_type, bindings)
    ]
    InboxProcessor(get_consumer(consumer)).process([row.to_envelope() for row in rows])
    return len(rows)
