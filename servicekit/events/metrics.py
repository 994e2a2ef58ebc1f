"""Prometheus instruments for the outbox, relay and inbox, and the scrape-time outbox collector."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

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


def collect_outbox() -> Iterator[Metric]:
    """For `SERVICEKIT_METRICS_COLLECTORS`: pending count, oldest pending age, dead letters."""
    from servicekit.events.outbox.selectors import outbox_stats

    stats = outbox_stats()
    pending = GaugeMetricFamily("outbox_pending_messages", "Outbox rows waiting to be published.")
    pending.add_metric([], stats.pending)
    age = GaugeMetricFamily(
        "outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox row."
    )
    age.add_metric([], stats.oldest_pending_age_seconds)
    dead = GaugeMetricFamily("outbox_dead_letters", "Outbox rows in the dead-letter state.")
    dead.add_metric([], stats.dead)
    yield from (pending, age, dead)


def collect_inbox() -> Iterator[Metric]:
    """For `SERVICEKIT_METRICS_COLLECTORS`: parked events and reported gaps per consumer."""
    from servicekit.events.inbox.selectors import inbox_stats

    parked = GaugeMetricFamily(
        "inbox_parked_messages",
        "Events waiting in the inbox, by consumer and state.",
        labels=["consumer", "state"],
    )
    for (consumer, state), count in inbox_stats().items():
        parked.add_metric([consumer, state], count)
    yield parked
