"""WSGI entry point: `gunicorn -c strangler_proxy/gunicorn.conf.py strangler_proxy.wsgi`."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strangler_proxy.settings")

from django.conf import settings
from django.core.wsgi import get_wsgi_application

if settings.STRANGLER_PROXY["TRACING"]:
    # Before the handler loads its middleware: the Django instrumentation adds one.
    from servicekit.observability import configure_observability

    configure_observability(service_name=settings.SERVICE_NAME)

application = get_wsgi_application()
