"""Prometheus instruments for the outbox, relay and inbox (the scrape-time collectors live with
the outbox and the inbox, whose tables they read)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

LAG_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

OUTBOX_PUBLISHED = Counter(
    "outbox_published_total",
    "Outbox events the broker confirmed, by event type (rate() is the publish rate).",
    ["event_type"],
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "outbox_publish_failures_total",
    "Failed publishes by event type and outcome (retry or dead).",
    ["event_type", "outcome"],
)
INBOX_APPLIED = Counter(
    "inbox_applied_total", "Events applied by a consumer.", ["consumer", "event_type"]
)
INBOX_DUPLICATES = Counter(
    "inbox_duplicates_total",
    "Redelivered events a consumer recognised and skipped.",
    ["consumer", "event_type"],
)
INBOX_PARKED = Counter(
    "inbox_parked_total",
    "Events parked by a consumer: out of order (waiting for a predecessor) or failed.",
    ["consumer", "event_type", "reason"],
)
INBOX_LAG = Histogram(
    "inbox_lag_seconds",
    "Consumer lag per event type: from the outbox write (commit) to applied.",
    ["consumer", "event_type"],
    buckets=LAG_BUCKETS,
)
