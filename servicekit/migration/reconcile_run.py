"""One reconciliation pass over this service's adapters: the command's and the periodic task's."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import structlog
from django.conf import settings

from servicekit.migration.export_client import ExportPolicy, ExportSource
from servicekit.migration.reconcile import (
    ReconcileRefused,
    ReconcileReport,
    adapters,
    direction,
    outcome_record,
    reconcile,
    repair,
)

logger = structlog.get_logger(__name__)


def peer_url(peer: str) -> str:
    """The peer's base URL, from the `RECONCILE_SOURCES` setting (peer name: URL)."""
    sources = getattr(settings, "RECONCILE_SOURCES", {})
    if peer not in sources:
        raise ReconcileRefused(f"no URL for {peer}: set it in RECONCILE_SOURCES")
    return sources[peer]


def staff_source(
    url: str,
    *,
    token: str,
    username: str,
    password: str,
    policy: ExportPolicy | None = None,
    token_url: str = "",
) -> ExportSource:
    """A staff session on `url`; tokens come from the identity provider (`token_url`, by
    default the RECONCILE_TOKEN_URL setting)."""
    source = ExportSource(url, token=token, policy=policy)
    if not token:
        source.login(
            username=username,
            password=password,
            token_url=token_url or settings.RECONCILE_TOKEN_URL,
        )
    return source


def reconcile_pass(
    *,
    names: Iterable[str] | None = None,
    fix: bool = False,
    source_for: Callable[[str], ExportSource],
    limit: int = 200,
) -> list[ReconcileReport]:
    """Reconcile each adapter the way ownership points, repair when asked, record the outcome.

    A refused adapter (an entity frozen for a handover) is skipped with a note, not recorded:
    its gauge keeps the last real run's value.
    """
    reports = []
    for adapter in adapters(names):
        try:
            owner_is_local = direction(adapter)
        except ReconcileRefused as exc:
            reports.append(
                ReconcileReport(name=adapter.name, owner="", mirror="", note=str(exc), refused=True)
            )
            continue
        pages = source_for(adapter.peer).pages(adapter.export_path, limit=limit)
        report = reconcile(adapter, pages=pages, owner_is_local=owner_is_local)
        if fix and report.drift:
            repair(adapter, report, owner_is_local=owner_is_local)
        outcome_record(report)
        log = logger.info if report.remaining == 0 else logger.warning
        log(
            "reconcile.done",
            entity=report.name,
            owner=report.owner,
            mirror=report.mirror,
            missing=report.count("missing"),
            extra=report.count("extra"),
            different=report.count("different"),
            repaired=report.repaired,
            emitted=report.emitted,
            remaining=report.remaining,
        )
        reports.append(report)
    return reports
