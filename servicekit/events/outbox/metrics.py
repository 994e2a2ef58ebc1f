"""Scrape-time outbox gauges, for `SERVICEKIT_METRICS_COLLECTORS`."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric


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
