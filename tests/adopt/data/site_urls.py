# --- added by tests/adopt: wagtail's read API (its documented set-up) and a backfill export,
# ahead of wagtail's catch-all page route
from django.urls import path
from wagtail.api.v2.router import WagtailAPIRouter
from wagtail.api.v2.views import PagesAPIViewSet
from wagtail.models import Page

from servicekit.migration.export_view import QuerysetExportView

api_router = WagtailAPIRouter("wagtailapi")
api_router.register_endpoint("pages", PagesAPIViewSet)


def page_row(page):
    return {
        "id": page.id,
        "type": page.specific_class._meta.label,
        "slug": page.slug,
        "title": page.title,
        "html_url": page.full_url,
        # as wagtail's API writes it (DRF: ISO 8601 with microseconds, `Z` for UTC)
        "first_published_at": page.first_published_at
        and page.first_published_at.isoformat().replace("+00:00", "Z"),
    }


urlpatterns[:0] = [  # noqa: F821
    path("api/v2/", api_router.urls),
    path(
        "strangler/export/pages/",
        QuerysetExportView.as_view(
            queryset=Page.objects.live().filter(depth__gt=1), what="pages", row=page_row
        ),
    ),
]
