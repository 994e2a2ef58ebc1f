"""Freeze, drain, flip: the catalog service takes products over only once it has every change."""

import io
import shutil
import threading
import time
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.db import OperationalError, connection

from servicekit.events.inbox.models import InboxCursor
from servicekit.migration.export_client import ExportSource
from servicekit.migration.handover import HandoverRefused, HandoverTimeout, Stream, handover
from servicekit.migration.ownership import owner_of, ownership_set, require_ownership
from servicekit.migration.proxy_routes import ProxyRoutes, RouteError
from servicekit.web.errors import ApplicationError, status_for

pytestmark = pytest.mark.django_db(transaction=True)
STREAMS = [Stream("categories", "category", "slug"), Stream("products", "product", "sku")]
ROUTES_TEMPLATE = Path(__file__).resolve().parents[3] / "strangler_proxy" / "routes.yaml"
WRITE_ROUTES = ["catalog-products-write", "catalog-categories-write"]


def export(products):
    def pages():
        yield {
            "categories": [{"slug": "kitchen", "sequence": 1}],
            "products": products[:1],
            "next_after": "x",
        }
        yield {
            "categories": [{"slug": "kitchen", "sequence": 1}],
            "products": products[1:],
            "next_after": None,
        }

    return pages


def cursor(aggregate_type, key, sequence):
    InboxCursor.objects.update_or_create(
        consumer="catalog",
        aggregate_type=aggregate_type,
        aggregate_id=key,
        defaults={"last_sequence": sequence},
    )


def test_flips_once_every_exported_change_is_applied():
    cursor("category", "kitchen", 1)
    cursor("product", "MUG-1", 3)
    cursor("product", "TEA-1", 1)  # behind: the export says 2
    seen_during: list[str] = []

    def catch_up_later():
        # however loaded the machine, catch up only once the handover has started
        deadline = time.monotonic() + 30
        while owner_of("product") != "frozen" and time.monotonic() < deadline:
            time.sleep(0.01)
        seen_during.append(owner_of("product"))
        # the drain reads the cursors meanwhile: a write may meet a locked table, so try again
        for _ in range(100):
            try:
                cursor("product", "TEA-1", 2)
                break
            except OperationalError:
                time.sleep(0.05)
        connection.close()

    timer = threading.Timer(0.2, catch_up_later)
    timer.start()
    handover(
        entity="product",
        to="catalog",
        consumer="catalog",
        export=export([{"sku": "MUG-1", "sequence": 3}, {"sku": "TEA-1", "sequence": 2}]),
        streams=STREAMS,
        grace=0,
        poll=0.05,
    )
    timer.join()

    assert seen_during == ["frozen"]  # nobody could write while it drained
    assert owner_of("product") == "catalog"


def test_frozen_writes_are_refused_with_503():
    ownership_set("product", "frozen")
    with pytest.raises(ApplicationError) as refused:
        require_ownership("product")
    assert status_for(refused.value) == 503 and refused.value.code == "handover_in_progress"


def test_a_handover_that_cannot_drain_gives_ownership_back():
    cursor("product", "MUG-1", 1)
    with pytest.raises(HandoverTimeout, match="1 product rows"):
        handover(
            entity="product",
            to="catalog",
            consumer="catalog",
            export=export([{"sku": "MUG-1", "sequence": 5}]),
            streams=[Stream("products", "product", "sku")],
            grace=0,
            poll=0.05,
            timeout=0.3,
        )
    assert owner_of("product") == "monolith"


@pytest.fixture
def routes_file(tmp_path):
    path = tmp_path / "routes.yaml"
    shutil.copy(ROUTES_TEMPLATE, path)
    return path


def route_mode(path, name):
    return next(r for r in yaml.safe_load(path.read_text())["routes"] if r["name"] == name)["mode"]


def test_a_takeover_moves_its_routes_inside_the_handover(routes_file):
    # given: the service has applied everything; the write routes still go to the monolith
    cursor("category", "kitchen", 1)
    cursor("product", "MUG-1", 3)
    lines: list[str] = []

    # when
    handover(
        entity="product",
        to="catalog",
        consumer="catalog",
        export=export([{"sku": "MUG-1", "sequence": 3}]),
        streams=STREAMS,
        grace=0,
        report=lines.append,
        routes=ProxyRoutes(routes_file=str(routes_file)),
        route_names=WRITE_ROUTES,
    )

    # then: route and owner agree, and the routes moved while writes were still frozen
    assert owner_of("product") == "catalog"
    assert [route_mode(routes_file, name) for name in WRITE_ROUTES] == ["extracted", "extracted"]
    assert lines.index("route catalog-categories-write: extracted") < lines.index(
        "product: now owned by catalog"
    )


def test_the_reverse_takeover_moves_the_routes_back(routes_file):
    ownership_set("product", "catalog")
    routes = ProxyRoutes(routes_file=str(routes_file))
    for name in WRITE_ROUTES:
        routes.set_mode(name, "extracted")
    cursor("category", "kitchen", 1)

    handover(
        entity="product",
        to="monolith",
        consumer="catalog",
        export=export([]),
        streams=STREAMS,
        grace=0,
        routes=routes,
        route_names=WRITE_ROUTES,
    )

    assert owner_of("product") == "monolith"
    assert [route_mode(routes_file, name) for name in WRITE_ROUTES] == ["monolith", "monolith"]


def test_a_failed_handover_puts_routes_and_owner_back(routes_file):
    cursor("product", "MUG-1", 1)
    with pytest.raises(HandoverTimeout):
        handover(
            entity="product",
            to="catalog",
            consumer="catalog",
            export=export([{"sku": "MUG-1", "sequence": 5}]),
            streams=[Stream("products", "product", "sku")],
            grace=0,
            poll=0.05,
            timeout=0.3,
            routes=ProxyRoutes(routes_file=str(routes_file)),
            route_names=WRITE_ROUTES,
        )
    assert owner_of("product") == "monolith"
    assert [route_mode(routes_file, name) for name in WRITE_ROUTES] == ["monolith", "monolith"]


def test_a_route_that_cannot_follow_refuses_before_anything_is_frozen(routes_file):
    with pytest.raises(HandoverRefused, match="orders"):
        handover(
            entity="product",
            to="catalog",
            consumer="catalog",
            export=export([]),
            streams=STREAMS,
            grace=0,
            routes=ProxyRoutes(routes_file=str(routes_file)),
            route_names=["catalog-products-write", "orders"],
        )
    with pytest.raises(RouteError, match="no-such-route"):
        ProxyRoutes(routes_file=str(routes_file)).show("no-such-route")
    assert owner_of("product") == "monolith"
    assert route_mode(routes_file, "catalog-products-write") == "monolith"


def test_the_takeover_command_takes_its_routes(routes_file, monkeypatch):
    # given: a source whose export the service has fully applied
    cursor("category", "kitchen", 1)
    cursor("product", "MUG-1", 3)
    pages = export([{"sku": "MUG-1", "sequence": 3}])
    monkeypatch.setattr(ExportSource, "pages", lambda self, path: pages())
    out = io.StringIO()

    # when
    call_command(
        "catalog_takeover",
        "--source=http://source.invalid",
        "--token=staff-token",
        "--route=catalog-products-write",
        "--route=catalog-categories-write",
        f"--routes-file={routes_file}",
        stdout=out,
    )

    # then
    assert owner_of("product") == "catalog"
    assert [route_mode(routes_file, name) for name in WRITE_ROUTES] == ["extracted", "extracted"]
    assert "route catalog-products-write: extracted" in out.getvalue()


class MemoryRoutes:
    """Routes in memory; `confirms_applied` as a shared control store's flips report it."""

    def __init__(self, *, confirms_applied: bool):
        self.confirms_applied = confirms_applied
        self.modes = dict.fromkeys(WRITE_ROUTES, "monolith")

    def show(self, name):
        return {"mode": self.modes[name], "upstream": "catalog"}

    def set_mode(self, name, mode):
        self.modes[name] = mode


@pytest.mark.parametrize("confirms_applied", [True, False])
def test_the_owner_flips_without_waiting_when_every_replica_confirmed_the_routes(
    confirms_applied, monkeypatch
):
    # given: a flip that returns once every replica applied it (or one that does not say)
    cursor("category", "kitchen", 1)
    slept: list[float] = []
    monkeypatch.setattr("servicekit.migration.handover.time.sleep", slept.append)
    routes = MemoryRoutes(confirms_applied=confirms_applied)

    # when
    handover(
        entity="product",
        to="catalog",
        consumer="catalog",
        export=export([]),
        streams=STREAMS,
        grace=0,
        routes=routes,
        route_names=WRITE_ROUTES,
        routes_reload=7.25,
    )

    # then: the reload interval is waited only when nobody confirmed the routes were applied
    assert owner_of("product") == "catalog"
    assert routes.modes == dict.fromkeys(WRITE_ROUTES, "extracted")
    assert (7.25 in slept) is not confirms_applied


def test_proxy_routes_confirm_applied_only_on_the_shared_control_store(monkeypatch):
    monkeypatch.delenv("STRANGLER_CONTROL_STORE", raising=False)
    assert ProxyRoutes().confirms_applied is False
    monkeypatch.setenv("STRANGLER_CONTROL_STORE", "redis://127.0.0.1:6379/0")
    assert ProxyRoutes().confirms_applied is True
