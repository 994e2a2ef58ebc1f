"""The e-commerce monolith the strangler takes apart."""

from monolith.celery import app as celery_app

__all__ = ["celery_app"]
