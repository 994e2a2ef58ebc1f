"""An export API for a backfill as one generic view over a queryset, for any Django project.

    # urls.py of the monolith being strangled
    from servicekit.migration.export_view import QuerysetExportView

    path("strangler/export/pages/", QuerysetExportView.as_view(
        queryset=Page.objects.live(), what="pages", row=page_row)),

It answers what `servicekit.migration.export_client.ExportSource.pages` reads (the shape of the
demo monolith's export endpoints): `GET ?after=<key>&limit=<n>` gives
`{"<what>": [row, ...], "next_after": "<key of the last row>" | null}`, ordered by `key` (the
primary key by default), so a backfill pages through it and resumes with `--after`. Each row is
`row(instance)` when given, else the instance's concrete fields by column name (what an
`outbox_record` event carries: `servicekit.events.record.instance_row`).

Who may read: a request with `Authorization: Bearer <token>` where the token equals the
`STRANGLER_EXPORT_TOKEN` setting or environment variable (compared in constant time), or a
logged-in staff user. Anyone else gets a 401 problem+json; bad `after`/`limit` a 400.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.http import HttpRequest, JsonResponse
from django.views import View

from servicekit.events.record import instance_row
from servicekit.web.errors import problem_response

TOKEN_SETTING = "STRANGLER_EXPORT_TOKEN"


def export_token() -> str:
    """The token a backfill presents: the setting, else the environment; empty: none accepted."""
    return str(getattr(settings, TOKEN_SETTING, "") or os.environ.get("STRANGLER_EXPORT_TOKEN", ""))


def export_allowed(request: HttpRequest) -> bool:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    token = export_token()
    if token and scheme.lower() == "bearer" and hmac.compare_digest(presented, token):
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


class QuerysetExportView(View):
    """`GET ?after=&limit=`: one keyed page of `queryset` for a backfill (module docstring)."""

    queryset: models.QuerySet | None = None
    what: str = "rows"
    key: str = "pk"
    row: Callable[[Any], dict[str, Any]] | None = None
    max_limit: int = 1000
    http_method_names: ClassVar[list[str]] = ["get", "head"]

    def get(self, request: HttpRequest) -> JsonResponse:
        if not export_allowed(request):
            return problem_response(
                request, 401, "not_authenticated", f"give `Authorization: Bearer <{TOKEN_SETTING}>`"
            )
        if self.queryset is None:
            raise TypeError("QuerysetExportView needs queryset=...")
        try:
            limit = int(request.GET.get("limit") or 200)
        except ValueError:
            limit = 0
        if not 1 <= limit <= self.max_limit:
            return problem_response(
                request, 400, "invalid", f"limit must be an integer from 1 to {self.max_limit}"
            )
        rows = self.queryset.all().order_by(self.key)
        after = request.GET.get("after", "")
        if after:
            field = self.queryset.model._meta.pk if self.key == "pk" else None
            field = field or self.queryset.model._meta.get_field(self.key)
            try:
                rows = rows.filter(**{f"{self.key}__gt": field.to_python(after)})
            except ValidationError:
                return problem_response(
                    request, 400, "invalid", f"after={after!r} is not a {self.key} of {self.what}"
                )
        page = list(rows[:limit])
        make_row = self.row or instance_row
        body = {
            self.what: [make_row(instance) for instance in page],
            "next_after": str(getattr(page[-1], self.key)) if len(page) == limit else None,
        }
        return JsonResponse(body, encoder=DjangoJSONEncoder)
