"""Ownership gates as one decorator or mixin: writes need the owner, reads pass, 503 to clients."""

from __future__ import annotations

import json

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.views import View

from servicekit.migration.ownership import OwnerMoving, ownership_set
from servicekit.migration.ownership_gate import OwnerOnlyMixin, owner_only


@pytest.fixture
def pages_owned_by(settings, tmp_path):
    """An adopted project's own entity (`page`) in an ownership file of its own."""
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")
    settings.OWNERSHIP_ENTITIES = ["page"]
    settings.SERVICE_NAME = "monolith"
    return lambda owner: ownership_set("page", owner)


@owner_only("page")
def page_publish(*, title: str) -> str:
    return f"published {title}"


@owner_only("page")
def page_edit(request, pk):
    return HttpResponse(f"page {pk} {request.method}")


class PageEditView(OwnerOnlyMixin, View):
    owner_entity = "page"

    def get(self, request):
        return HttpResponse("read")

    def post(self, request):
        return HttpResponse("written")


def test_a_write_service_runs_for_the_owner_and_raises_elsewhere(pages_owned_by):
    assert page_publish(title="About") == "published About"  # no file yet: the monolith owns
    pages_owned_by("pages-service")
    with pytest.raises(OwnerMoving) as refused:
        page_publish(title="About")
    assert refused.value.details == {"entity": "page", "owner": "pages-service"}


@pytest.mark.parametrize("view", [page_edit, PageEditView.as_view()], ids=["function", "class"])
def test_a_view_refuses_writes_with_503_problem_json_and_serves_reads(pages_owned_by, view):
    factory = RequestFactory()
    args = (7,) if view is page_edit else ()
    assert view(factory.post("/pages/7/"), *args).status_code == 200
    pages_owned_by("frozen")
    answer = view(factory.post("/pages/7/"), *args)
    assert answer.status_code == 503
    assert answer["Content-Type"] == "application/problem+json"
    assert answer["Retry-After"] == "2"
    assert b'"code": "handover_in_progress"' in answer.content
    pages_owned_by("pages-service")
    moved = view(factory.post("/pages/7/"), *args)
    assert moved.status_code == 503 and moved["Retry-After"] == "1"
    problem = json.loads(moved.content)
    assert problem["code"] == "owner_moving"  # the same body the DRF handler gives: its details
    assert (problem["entity"], problem["owner"]) == ("page", "pages-service")
    assert problem["instance"] == "/pages/7/"
    assert view(factory.get("/pages/7/"), *args).status_code == 200  # reads pass


def test_an_unknown_entity_is_refused_by_the_file(settings, tmp_path):
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")
    with pytest.raises(ValueError, match="unknown entity 'page'"):
        ownership_set("page", "pages-service")
