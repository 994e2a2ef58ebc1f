"""Transactional outbox: `outbox_enqueue(event)` inside the business transaction; a relay publishes.

Names are loaded lazily so the package can sit in INSTALLED_APPS before the app registry is ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from servicekit.events.outbox.models import AggregateSequence, OutboxMessage
    from servicekit.events.outbox.services import OutboxUsageError, outbox_enqueue

__all__ = ["AggregateSequence", "OutboxMessage", "OutboxUsageError", "outbox_enqueue"]


def __getattr__(name: str) -> Any:
    if name in ("outbox_enqueue", "OutboxUsageError"):
        from servicekit.events.outbox import services

        return getattr(services, name)
    if name in ("OutboxMessage", "AggregateSequence"):
        from servicekit.events.outbox import models

        return getattr(models, name)
    raise AttributeError(name)
