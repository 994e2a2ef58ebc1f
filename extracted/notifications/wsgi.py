"""WSGI entry point (gunicorn extracted.notifications.wsgi:application)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "extracted.notifications.settings")

from servicekit.observability import configure_observability

configure_observability(service_name="notifications")
application = get_wsgi_application()
