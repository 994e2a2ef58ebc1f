"""Outbox lag per service for the control centre, from each service's Prometheus `/metrics`."""

from __future__ import annotations

from typing import Any

import urllib3
from prometheus_client.parser import text_string_to_metric_families

LAG_METRICS = ("outbox_pending_messages", "outbox_oldest_pending_age_seconds")


def parse_lag(text: str) -> dict[str, float]:
    """The outbox gauges in a scrape (summed when labelled); absent ones are left out."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in LAG_METRICS:
                out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def outbox_lag(
    targets: dict[str, str], *, http: urllib3.PoolManager, timeout: float = 1.0
) -> dict[str, dict[str, Any]]:
    """`targets` maps a service to its base URL; each is asked for `/metrics` once, briefly."""
    out: dict[str, dict[str, Any]] = {}
    for name, base in sorted(targets.items()):
        url = f"{base.rstrip('/')}/metrics"
        try:
            response = http.request("GET", url, timeout=timeout, retries=False)
        except urllib3.exceptions.HTTPError as exc:
            out[name] = {"url": url, "error": type(exc).__name__}
            continue
        if response.status != 200:
            out[name] = {"url": url, "error": f"HTTP {response.status}"}
            continue
        lag = parse_lag(response.data.decode("utf-8", errors="replace"))
        out[name] = {
            "url": url,
            "pending": lag.get("outbox_pending_messages"),
            "oldest_age_seconds": lag.get("outbox_oldest_pending_age_seconds"),
        }
    return out
