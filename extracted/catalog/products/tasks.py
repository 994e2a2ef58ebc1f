"""Celery tasks: thin wrappers around services."""

import structlog
from celery import shared_task
from django.conf import settings

from extracted.catalog.products.reconcile import catalog_reconcile
from servicekit.migration.export_client import ExportSource

logger = structlog.get_logger(__name__)


@shared_task(ignore_result=True)
def catalog_reconcile_task() -> dict:
    """Compare this catalog with the monolith's and log the drift (repairs stay a human call:
    `catalog_reconcile --repair`). Read-only, so running it twice is harmless."""
    source = ExportSource(settings.RECONCILE_SOURCE)
    source.login(
        username=settings.RECONCILE_USERNAME,
        password=settings.RECONCILE_PASSWORD,
        token_url=settings.RECONCILE_SOURCE.rstrip("/") + "/api/v1/auth/token",
    )
    report = catalog_reconcile(pages=source.pages("/api/v1/catalog/export/"))
    outcome = {
        "clean": report.clean,
        "missing": report.count("missing"),
        "extra": report.count("extra"),
        "different": report.count("different"),
        "monolith": report.monolith_count,
        "catalog": report.local_count,
    }
    log = logger.info if report.clean else logger.warning
    log("catalog.reconciled", **outcome)
    return outcome
