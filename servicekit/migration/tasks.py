"""The periodic reconciliation (Celery beat, where a service runs a worker): report, repair."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings


@shared_task(ignore_result=True)
def reconcile_task(repair: bool | None = None) -> dict:
    """Reconcile every adapter of this service. Repairs only the mirror's side, through its
    idempotent apply path, when `RECONCILE_REPAIR` is on (or `repair=True`); running it twice is
    harmless. Returns each entity's remaining drift."""
    from servicekit.migration.reconcile_run import peer_url, reconcile_pass, staff_source

    fix = settings.RECONCILE_REPAIR if repair is None else repair
    sources: dict = {}

    def source_for(peer: str):
        if peer not in sources:
            sources[peer] = staff_source(
                peer_url(peer),
                token="",
                username=settings.RECONCILE_USERNAME,
                password=settings.RECONCILE_PASSWORD,
            )
        return sources[peer]

    reports = reconcile_pass(fix=fix, source_for=source_for)
    return {report.name: report.remaining for report in reports}
