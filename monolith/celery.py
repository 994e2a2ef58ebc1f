"""The monolith's Celery app: tasks run on the `monolith` queue with the request id carried along."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ["DJANGO_SETTINGS_MODULE"] = (
    "monolith.settings"  # this entry point runs this service only
)

app = Celery("monolith")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _install_inbox_step() -> None:
    # The service's event consumers may run inside this worker (CELERY_INBOX_CONSUMERS).
    from servicekit.events.inbox.celery_step import install

    install(app)


_install_inbox_step()


@app.on_after_configure.connect
def _structlog_steps(sender: Celery, **_kwargs) -> None:
    from django_structlog.celery.steps import DjangoStructLogInitStep

    sender.steps["worker"].add(DjangoStructLogInitStep)


@worker_process_init.connect
def _init_worker(**_kwargs) -> None:
    from servicekit.web.observability import configure_observability

    configure_observability(service_name="monolith-worker", instrument_django=False)
