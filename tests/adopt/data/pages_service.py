"""The extracted service of tests/adopt: wagtail's page listing (`/api/v2/pages/`) from its own copy.

A tiny Django app in one file. `python pages_service.py backfill SOURCE TOKEN` pages through the
monolith's export (servicekit.migration.export_client, the same client every backfill uses) into
`pages.json` beside it; gunicorn serves `pages_service:application` from that copy, answering
the listing in wagtail's shape. `X-Served-By: pages-service` says who answered.
`python pages_service.py consume` keeps the copy current from the site's `outbox_record` events
through servicekit's inbox (its own SQLite database; `applied.log` has a line per application).
"""

import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import django
from django.conf import settings
from django.http import JsonResponse
from django.urls import path

from servicekit.web.env import filesystem_broker_options

HERE = Path(__file__).resolve().parent
COPY = HERE / "pages.json"

settings.configure(
    DEBUG=False,
    SECRET_KEY="pages-service-test-only",
    SERVICE_NAME="pages-service",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "servicekit.events.inbox"],
    MIDDLEWARE=[],
    DATABASES={
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(HERE / "pages.sqlite3")}
    },
    USE_TZ=True,
    SERVICEKIT_EVENTS={
        "SERVICE": "pages-service",
        "BROKER_URL": "filesystem://",
        "TRANSPORT_OPTIONS": filesystem_broker_options(
            environ={"STRANGLER_DATA_DIR": str(HERE.parent / "events")}  # the site's folder
        ),
        "EXCHANGE": "adopt.events",
        "SUBSCRIPTIONS": {"pages-service": ("records.#",)},
    },
)
django.setup()

from servicekit.events.inbox.registry import EventConsumer  # noqa: E402
from servicekit.events.record import RecordChangedV1  # noqa: E402

consumer = EventConsumer("pages-service")


@consumer.on(RecordChangedV1)
def page_changed(event, envelope):
    """Runs once per event (the inbox drops a redelivery) inside the inbox's transaction."""
    rows = json.loads(COPY.read_text())
    for row in rows:
        if str(row["id"]) == event.pk:
            row.update({k: v for k, v in event.fields.items() if k in ("title", "slug")})
    COPY.write_text(json.dumps(rows))
    with (HERE / "applied.log").open("a") as log:
        log.write(f"{envelope.event_id} {event.model}:{event.pk} {event.action}\n")


def _item(row: dict) -> dict:
    site = urlsplit(row["html_url"])
    return {
        "id": row["id"],
        "meta": {
            "type": row["type"],
            "detail_url": f"{site.scheme}://{site.netloc}/api/v2/pages/{row['id']}/",
            "html_url": row["html_url"],
            "slug": row["slug"],
            "first_published_at": row["first_published_at"],
        },
        "title": row["title"],
    }


def pages_listing(request):
    rows = json.loads(COPY.read_text())
    body = {"meta": {"total_count": len(rows)}, "items": [_item(r) for r in rows]}
    answer = JsonResponse(body)
    answer["X-Served-By"] = "pages-service"
    return answer


urlpatterns = [path("api/v2/pages/", pages_listing)]


def backfill(source: str, token: str) -> int:
    from servicekit.migration.export_client import ExportSource

    rows = []
    for page in ExportSource(source, token=token).pages("/strangler/export/pages/", limit=1):
        rows.extend(page["pages"])
    COPY.write_text(json.dumps(rows))
    print(f"backfilled {len(rows)} pages")
    return 0


from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

if __name__ == "__main__" and sys.argv[1:2] == ["backfill"]:
    sys.exit(backfill(sys.argv[2], sys.argv[3]))
if __name__ == "__main__" and sys.argv[1:2] == ["consume"]:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("inbox_consume", "pages-service")
