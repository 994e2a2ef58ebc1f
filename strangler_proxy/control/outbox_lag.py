"""Read models from each service's Prometheus `/metrics` for the control centre: outbox lag and
reconciliation drift (one scrape helper, one parser each)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import urllib3
from prometheus_client.parser import text_string_to_metric_families

LAG_METRICS = ("outbox_pending_messages", "outbox_oldest_pending_age_seconds")
DRIFT_METRIC = "strangler_reconcile_drift"


def parse_lag(text: str) -> dict[str, float]:
    """The outbox gauges in a scrape (summed when labelled); absent ones are left out."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in LAG_METRICS:
                out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def parse_drift(text: str) -> dict[str, dict[str, Any]]:
    """`strangler_reconcile_drift` per entity: rows still drifted, and who owns and mirrors."""
    return {
        sample.labels["entity"]: {
            "drift": int(sample.value),
            "owner": sample.labels.get("owner"),
            "mirror": sample.labels.get("mirror"),
        }
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == DRIFT_METRIC
    }


def scrape(
    targets: dict[str, str], *, http: urllib3.PoolManager, timeout: float = 1.0
) -> Iterator[tuple[str, str, str | None, str | None]]:
    """(service, url, text, error) for each target's `/metrics`, asked once, briefly."""
    for name, base in sorted(targets.items()):
        url = f"{base.rstrip('/')}/metrics"
        try:
            response = http.request("GET", url, timeout=timeout, retries=False)
        except urllib3.exceptions.HTTPError as exc:
            yield name, url, None, type(exc).__name__
            continue
        if response.status != 200:
            yield name, url, None, f"HTTP {response.status}"
            continue
        text = response.data.decode("utf-8", errors="replace")
        try:  # one service answering something else must not hide the others
            list(text_string_to_metric_families(text))
        except ValueError:
            yield name, url, None, "not Prometheus text"
            continue
        yield name, url, text, None


def outbox_lag(
    targets: dict[str, str], *, http: urllib3.PoolManager, timeout: float = 1.0
) -> dict[str, dict[str, Any]]:
    """`targets` maps a service to its base URL."""
    out: dict[str, dict[str, Any]] = {}
    for name, url, text, error in scrape(targets, http=http, timeout=timeout):
        if text is None:
            out[name] = {"url": url, "error": error}
            continue
        lag = parse_lag(text)
        out[name] = {
            "url": url,
            "pending": lag.get("outbox_pending_messages"),
            "oldest_age_seconds": lag.get("outbox_oldest_pending_age_seconds"),
        }
    return out


def reconcile_drift(
    targets: dict[str, str], *, http: urllib3.PoolManager, timeout: float = 1.0
) -> dict[str, dict[str, Any]]:
    """Each service's last reconciliation per entity (`entities` is empty before its first)."""
    out: dict[str, dict[str, Any]] = {}
    for name, url, text, error in scrape(targets, http=http, timeout=timeout):
        out[name] = (
            {"url": url, "error": error}
            if text is None
            else {"url": url, "entities": parse_drift(text)}
        )
    return out
