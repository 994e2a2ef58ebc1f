"""The catalog service: products, prices and stock, extracted from the monolith."""

from extracted.catalog.tasks_app import app as celery_app

__all__ = ["celery_app"]
