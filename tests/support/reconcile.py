"""Reconciliation tests: a peer's export as pages, and one pass over a service's adapters."""

from __future__ import annotations

from typing import Any

from servicekit.migration.reconcile import ReconcileReport


class FakeExport:
    """A peer's staff export APIs: path -> (rows key, rows, fields every page carries)."""

    def __init__(self, size: int = 2):
        self.size = size
        self.paths: dict[str, tuple[str, list[dict[str, Any]], dict[str, Any]]] = {}
        self.asked: list[str] = []

    def serve(self, path: str, rows_key: str, rows: list[dict[str, Any]], **every_page: Any):
        self.paths[path] = (rows_key, rows, every_page)
        return self

    def pages(self, path: str, *, limit: int = 200):
        self.asked.append(path)
        rows_key, rows, every_page = self.paths[path]
        size = min(self.size, limit)
        chunks = [rows[i : i + size] for i in range(0, len(rows), size)] or [[]]
        for number, chunk in enumerate(chunks):
            last = number == len(chunks) - 1
            yield {rows_key: chunk, **every_page, "next_after": None if last else "more"}


def reconcile_here(
    export: FakeExport, *, names: list[str] | None = None, fix: bool = False
) -> dict[str, ReconcileReport]:
    """One pass over this service's adapters against `export`, by adapter name."""
    from servicekit.migration.reconcile_run import reconcile_pass

    reports = reconcile_pass(names=names, fix=fix, source_for=lambda peer: export)
    return {report.name: report for report in reports}


def drift_kinds(report: ReconcileReport) -> list[tuple[str, str]]:
    return sorted((d.key, d.kind) for d in report.drift)


def drift_gauges(client) -> dict[str, float]:
    """`strangler_reconcile_drift` per entity on this service's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics").content.decode()
    return {
        sample.labels["entity"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "strangler_reconcile_drift"
    }
