"""Read models for operators, shared by the admin API and the CLI (pure over their inputs)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from prometheus_client import CollectorRegistry

from strangler_proxy.routes import RouteTable


def routes_document(table: RouteTable, *, source: str, loaded_at: float, last_error: str | None):
    return {
        "source": source,
        "loaded_at": loaded_at,
        "last_error": last_error,
        "default_upstream": table.default_upstream,
        "upstreams": table.raw.get("upstreams", {}),
        "routes": table.raw.get("routes", []),
    }


def _samples(registry: CollectorRegistry, name: str):
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == name:
                yield sample


def traffic(registry: CollectorRegistry, *, default_upstream: str) -> dict[str, Any]:
    """Requests per route and upstream since start, and how much still goes to the monolith."""
    per_route: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for sample in _samples(registry, "proxy_upstream_requests_total"):
        per_route[sample.labels["route"]][sample.labels["upstream"]] += sample.value
    total = sum(sum(v.values()) for v in per_route.values())
    to_default = sum(v.get(default_upstream, 0) for v in per_route.values())
    return {
        "routes": {
            route: {
                "total": int(sum(counts.values())),
                "by_upstream": {k: int(v) for k, v in sorted(counts.items())},
                f"{default_upstream}_share": round(
                    counts.get(default_upstream, 0) / sum(counts.values()), 4
                )
                if sum(counts.values())
                else None,
            }
            for route, counts in sorted(per_route.items())
        },
        "total": int(total),
        f"{default_upstream}_share": round(to_default / total, 4) if total else None,
    }


def shadow_stats(registry: CollectorRegistry) -> dict[str, dict[str, int]]:
    stats: dict[str, dict[str, int]] = defaultdict(dict)
    for sample in _samples(registry, "proxy_shadow_comparisons_total"):
        stats[sample.labels["route"]][sample.labels["result"]] = int(sample.value)
    return dict(stats)
