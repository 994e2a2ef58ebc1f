"""An export API for a backfill as one generic view over a queryset, read by the backfill client."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.test import RequestFactory

from servicekit.migration.export_view import QuerysetExportView

pytestmark = pytest.mark.django_db
TOKEN = "export-secret"
view = QuerysetExportView.as_view(queryset=Group.objects.all(), what="groups")


def _get(query: str = "", token: str | None = TOKEN):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    answer = view(RequestFactory().get(f"/export/{query}", **headers))
    return answer.status_code, json.loads(answer.content)


def test_pages_are_keyed_and_chain_to_the_end(settings):
    settings.STRANGLER_EXPORT_TOKEN = TOKEN
    made = [Group.objects.create(name=f"group-{n}").pk for n in range(5)]
    seen, after, requests = [], "", 0
    while requests < 10:
        requests += 1
        status, page = _get(f"?limit=2&after={after}")
        assert status == 200
        seen += [row["id"] for row in page["groups"]]
        assert all(set(row) == {"id", "name"} for row in page["groups"])
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == made
    assert requests == 3  # 2 + 2 + 1: the short page says it is the last


@pytest.mark.parametrize(
    ("query", "token", "status", "code"),
    [
        ("", None, 401, "not_authenticated"),
        ("", "wrong", 401, "not_authenticated"),
        ("?limit=0", TOKEN, 400, "invalid"),
        ("?limit=x", TOKEN, 400, "invalid"),
        ("?after=abc", TOKEN, 400, "invalid"),
    ],
)
def test_bad_requests_get_a_problem_naming_what_is_wrong(settings, query, token, status, code):
    settings.STRANGLER_EXPORT_TOKEN = TOKEN
    got, body = _get(query, token)
    assert (got, body["code"]) == (status, code)
