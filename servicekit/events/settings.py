"""`SERVICEKIT_EVENTS`: outbox, relay and inbox settings, read lazily with defaults (like DRF)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

DEFAULTS: dict[str, Any] = {
    # The service whose changes this process records; defaults to settings.SERVICE_NAME.
    "SERVICE": None,
    # The project's topology: its topic exchange, and queue name -> binding keys for every
    # consuming service (the shop's is contracts/topology.py, given in each service's settings).
    "EXCHANGE": "servicekit.events",
    "SUBSCRIPTIONS": {},
    "BROKER_URL": None,  # default: settings.CELERY_BROKER_URL
    "TRANSPORT_OPTIONS": None,  # default: settings.CELERY_BROKER_TRANSPORT_OPTIONS
    "RELAY_BATCH_SIZE": 500,
    "RELAY_POLL_INTERVAL": 0.1,  # seconds between polls when LISTEN/NOTIFY is unavailable
    "RELAY_IDLE_INTERVAL": 1.0,  # the longest sleep while listening (a safety net for lost wakes)
    "RELAY_LEASE_SECONDS": 30.0,  # a claimed row is re-claimable after this if its relay died
    "RELAY_MAX_ATTEMPTS": 8,  # then the row is dead-lettered
    "RELAY_BACKOFF_BASE": 0.5,  # seconds; doubled per attempt, full jitter
    "RELAY_BACKOFF_MAX": 300.0,
    "RELAY_CONFIRM_TIMEOUT": 10.0,
    "RETENTION_SECONDS": 7 * 24 * 3600,  # sent rows older than this are deleted by cleanup
    "INBOX_BATCH_SIZE": 200,
    "INBOX_MAX_ATTEMPTS": 5,  # handler failures before the event is dead-lettered in the inbox
    "INBOX_BACKOFF_BASE": 0.5,
    "INBOX_GAP_REPORT_SECONDS": 30.0,  # an aggregate waiting this long for a missing event is a gap
    "INBOX_PREFETCH": 500,
    "INBOX_RETENTION_SECONDS": 30 * 24 * 3600,
    "METRICS_PORT": None,  # the relay/consumer commands serve /metrics here when set
}


@dataclass(frozen=True)
class EventsSettings:
    SERVICE: str
    EXCHANGE: str
    SUBSCRIPTIONS: dict[str, tuple[str, ...]]
    BROKER_URL: str
    TRANSPORT_OPTIONS: dict[str, Any]
    RELAY_BATCH_SIZE: int
    RELAY_POLL_INTERVAL: float
    RELAY_IDLE_INTERVAL: float
    RELAY_LEASE_SECONDS: float
    RELAY_MAX_ATTEMPTS: int
    RELAY_BACKOFF_BASE: float
    RELAY_BACKOFF_MAX: float
    RELAY_CONFIRM_TIMEOUT: float
    RETENTION_SECONDS: float
    INBOX_BATCH_SIZE: int
    INBOX_MAX_ATTEMPTS: int
    INBOX_BACKOFF_BASE: float
    INBOX_GAP_REPORT_SECONDS: float
    INBOX_PREFETCH: int
    INBOX_RETENTION_SECONDS: float
    METRICS_PORT: int | None = field(default=None)


def events_settings() -> EventsSettings:
    """Read at call time, never at import, so tests can override settings."""
    from django.conf import settings

    values = {**DEFAULTS, **getattr(settings, "SERVICEKIT_EVENTS", {})}
    unknown = set(values) - {f.name for f in fields(EventsSettings)}
    if unknown:
        raise ValueError(f"unknown SERVICEKIT_EVENTS keys: {sorted(unknown)}")
    values["SERVICE"] = values["SERVICE"] or getattr(settings, "SERVICE_NAME", "") or "service"
    values["BROKER_URL"] = values["BROKER_URL"] or getattr(settings, "CELERY_BROKER_URL", "")
    if values["TRANSPORT_OPTIONS"] is None:
        values["TRANSPORT_OPTIONS"] = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
    return EventsSettings(**values)
