"""WSGI entry point (gunicorn extracted.users.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = (
    "extracted.users.settings"  # this entry point runs this service only
)

from servicekit.migration.ownership import ownership_follow
from servicekit.web.databases import database_refuse_foreign
from servicekit.web.observability import configure_observability

configure_observability(service_name="users")
application = get_wsgi_application()

# Once per process, not per request: never serve from another service's database.
database_refuse_foreign()
# ...and follow the ownership table (a replica that ownership flips wait for).
ownership_follow()
