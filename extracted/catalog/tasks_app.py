"""The catalog service's Celery app (not `celery.py`: `python extracted/catalog/manage.py` puts this
folder first on sys.path, where that name would hide the library): periodic reconciliation."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ["DJANGO_SETTINGS_MODULE"] = "extracted.catalog.settings"  # this service only

app = Celery("catalog")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["servicekit.migration"])


@worker_process_init.connect
def _init_worker(**_kwargs) -> None:
    from servicekit.web.observability import configure_observability

    configure_observability(service_name="catalog-worker", instrument_django=False)
