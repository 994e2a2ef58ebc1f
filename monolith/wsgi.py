"""WSGI entry point (gunicorn monolith.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")

from servicekit.observability import configure_observability

configure_observability(service_name="monolith")
application = get_wsgi_application()
