"""The extracted service of tests/adopt: wagtail's page listing (`/api/v2/pages/`) from its own copy.

A tiny Django app in one file. `python pages_service.py backfill SOURCE TOKEN` pages through the
monolith's export (servicekit.migration.export_client, the same client every backfill uses) into
`pages.json` beside it; gunicorn serves `pages_service:application` from that copy, answering
the listing in wagtail's shape. `X-Served-By: pages-service` says who answered.
"""

import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

import django
from django.conf import settings
from django.http import JsonResponse
from django.urls import path

HERE = Path(__file__).resolve().parent
COPY = HERE / "pages.json"

settings.configure(
    DEBUG=False,
    SECRET_KEY="pages-service-test-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
    DATABASES={},
)
django.setup()


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
