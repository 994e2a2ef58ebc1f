"""Scrape-time inbox gauges, for `SERVICEKIT_METRICS_COLLECTORS`."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric


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
