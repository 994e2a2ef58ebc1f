"""Stock as an event-sourced aggregate: the store, snapshots, the projection and its rebuild,
the outbox in the same transaction, optimistic concurrency, the opening-event migration."""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from contracts.catalog import StockChangedV2
from contracts.checkout import (
    StockCommitRequestedV1,
    StockLineV1,
    StockReleaseRequestedV1,
    StockReserveRequestedV1,
    StockReturnRequestedV1,
)
from extracted.catalog.products import services as product_services
from extracted.catalog.products.models import Category, Inventory, Product
from extracted.catalog.stock import eventstore
from extracted.catalog.stock import services as stock_services
from extracted.catalog.stock.aggregate import StockState, received, reserved
from extracted.catalog.stock.eventstore import (
    LoadedStock,
    StockConcurrencyError,
    stock_append,
    stock_change,
    stock_load,
)
from extracted.catalog.stock.models import StockEvent, StockSnapshot
from extracted.catalog.stock.projection import stock_project, stock_projection_rebuild
from servicekit.events.outbox.models import OutboxMessage
from servicekit.web.errors import ApplicationError

pytestmark = pytest.mark.django_db

SKUS = ("MUG-1", "TEA-1", "PAN-1")


@pytest.fixture
def products(catalog_owned):
    product_services.category_create(slug="kitchen", name="Kitchen")
    for n, sku in enumerate(SKUS):
        product_services.product_create(
            sku=sku, name=sku, category="kitchen", price=Decimal("2.00"), on_hand=5 + n
        )
    return SKUS


def levels() -> dict[str, StockState]:
    return {
        sku: StockState(on_hand, held)
        for sku, on_hand, held in Inventory.objects.values_list(
            "product__sku", "on_hand", "reserved"
        )
    }


def stream(sku: str) -> list[tuple[int, str]]:
    return list(
        StockEvent.objects.filter(aggregate_id=sku)
        .order_by("version")
        .values_list("version", "type")
    )


# --- the store --------------------------------------------------------------------------


def test_creating_a_product_opens_its_stream_and_the_projection_follows(products):
    assert stream("MUG-1") == [(1, "adjusted")]
    stock_services.stock_receive(sku="MUG-1", quantity=4)
    assert stream("MUG-1") == [(1, "adjusted"), (2, "received")]
    assert stock_load("MUG-1") == LoadedStock("MUG-1", StockState(9, 0), 2)
    assert levels()["MUG-1"] == StockState(9, 0)


def test_a_stored_event_is_never_changed_or_deleted(products):
    event = StockEvent.objects.get(aggregate_id="MUG-1", version=1)
    event.payload = {"on_hand": 1000, "reserved": 0}
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    assert stock_load("MUG-1").state == StockState(5, 0)


def test_a_stale_expected_version_conflicts_instead_of_losing_a_write(products):
    # given two writers that read the same version
    first, second = stock_load("TEA-1"), stock_load("TEA-1")
    # when both append after it
    with transaction.atomic():
        stock_append(first, [reserved(1, order_id=1)])
    with pytest.raises(StockConcurrencyError) as refused, transaction.atomic():
        stock_append(second, [reserved(2, order_id=2)])
    # then the second is refused, clearly, and the first stands alone
    assert refused.value.code == "stock_version_conflict"
    assert refused.value.details == {"sku": "TEA-1", "expected_version": 1}
    assert stream("TEA-1") == [(1, "adjusted"), (2, "reserved")]
    assert stock_load("TEA-1").state == StockState(6, 1)


def test_a_change_that_loses_the_race_decides_again_on_the_newer_state(products):
    seen: list[StockState] = []

    def decide(state):
        seen.append(state)
        if len(seen) == 1:  # another writer gets in between our read and our append
            stock_append(stock_load("PAN-1"), [received(3)])
        return [reserved(2, order_id=7)]

    state = stock_change(sku="PAN-1", decide=decide, reason="test")
    assert seen == [StockState(7, 0), StockState(10, 0)]
    assert state == StockState(10, 2)
    assert stream("PAN-1") == [(1, "adjusted"), (2, "received"), (3, "reserved")]


def test_an_api_write_that_keeps_conflicting_answers_409(products, staff_client, monkeypatch):
    # a reader that is always one version behind: every append conflicts
    real_load = eventstore.stock_load

    def stale(sku, **kwargs):
        loaded = real_load(sku, **kwargs)
        return LoadedStock(loaded.sku, loaded.state, loaded.version - 1)

    monkeypatch.setattr(eventstore, "stock_load", stale)
    response = staff_client.put("/api/v1/products/MUG-1/inventory/", {"on_hand": 2}, format="json")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "stock_version_conflict"
    assert stream("MUG-1") == [(1, "adjusted")]


# --- snapshots ----------------------------------------------------------------------------


def test_snapshots_give_the_state_the_full_fold_gives(products, settings):
    settings.STOCK_SNAPSHOT_EVERY = 4
    for n in range(1, 11):
        stock_services.stock_receive(sku="MUG-1", quantity=n)
        if n % 3 == 0:
            stock_change(sku="MUG-1", decide=lambda s, n=n: [reserved(1, order_id=n)], reason=None)
    # 1 opening + 10 received + 3 reserved = 14 events: snapshots at 4, 8 and 12
    assert list(
        StockSnapshot.objects.filter(aggregate_id="MUG-1")
        .order_by("version")
        .values_list("version", flat=True)
    ) == [4, 8, 12]
    with_snapshot, from_zero = stock_load("MUG-1"), stock_load("MUG-1", use_snapshot=False)
    assert with_snapshot == from_zero == LoadedStock("MUG-1", StockState(60, 3), 14)


def test_a_load_folds_only_the_events_after_the_snapshot(products, settings):
    settings.STOCK_SNAPSHOT_EVERY = 2
    stock_services.stock_receive(sku="TEA-1", quantity=1)  # version 2: snapshot
    # a snapshot is trusted: prove it is what the load starts from
    StockSnapshot.objects.filter(aggregate_id="TEA-1").update(state={"on_hand": 100, "reserved": 0})
    stock_services.stock_receive(sku="TEA-1", quantity=1)
    assert stock_load("TEA-1").state == StockState(101, 0)
    assert stock_load("TEA-1", use_snapshot=False).state == StockState(8, 0)


# --- the outbox, in the append's transaction -----------------------------------------------


def test_the_outbox_row_commits_and_rolls_back_with_the_append(products):
    class Abort(Exception):
        pass

    before = OutboxMessage.objects.count()
    with pytest.raises(Abort), transaction.atomic():
        stock_services.stock_receive(sku="MUG-1", quantity=2)
        assert stream("MUG-1")[-1] == (2, "received")
        assert OutboxMessage.objects.count() == before + 1
        raise Abort
    assert stream("MUG-1") == [(1, "adjusted")]
    assert OutboxMessage.objects.count() == before

    stock_services.stock_receive(sku="MUG-1", quantity=2)
    message = OutboxMessage.objects.order_by("-id").first()
    assert message.event_type == "catalog.stock_changed.v2"
    assert message.payload == {
        "sku": "MUG-1",
        "on_hand": 7,
        "reserved": 0,
        "available": 7,
        "reason": "received",
    }


# --- the projection, rebuilt from zero ------------------------------------------------------


def test_a_mirrored_level_the_stream_already_has_puts_a_drifted_row_right(products):
    Inventory.objects.filter(product__sku="MUG-1").update(on_hand=99)
    product_services.stock_apply_changed(
        StockChangedV2(sku="MUG-1", on_hand=5, reserved=0, available=5, reason="reconcile")
    )
    assert stream("MUG-1") == [(1, "adjusted")]  # nothing new happened to the stock
    assert levels()["MUG-1"] == StockState(5, 0)


def test_a_writer_that_read_older_never_writes_its_level_over_a_newer_one(products):
    older = stock_load("MUG-1")
    stock_services.stock_receive(sku="MUG-1", quantity=3)
    stock_project("MUG-1", older.state, older.version)
    assert levels()["MUG-1"] == StockState(8, 0)
    assert Inventory.objects.get(product__sku="MUG-1").stock_version == 2


def test_rebuild_from_zero_repairs_a_damaged_projection(products):
    live = levels()
    Inventory.objects.filter(product__sku="TEA-1").update(on_hand=99, reserved=3)
    with pytest.raises(CommandError, match="differs"):
        call_command("rebuild_stock_projection", "--check")
    call_command("rebuild_stock_projection")
    assert levels() == live
    call_command("rebuild_stock_projection", "--check")


def _command(cls, order_id: int, lines):
    return cls(order_id=order_id, lines=tuple(StockLineV1(sku=s, quantity=q) for s, q in lines))


OPERATIONS = st.one_of(
    st.tuples(st.just("receive"), st.sampled_from(SKUS), st.integers(1, 5)),
    st.tuples(st.just("count"), st.sampled_from(SKUS), st.integers(0, 12)),
    st.tuples(
        st.just("reserve"),
        st.integers(1, 4),
        st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 6)), min_size=1, max_size=3),
    ),
    st.tuples(st.sampled_from(["release", "commit", "return"]), st.integers(1, 4), st.just(())),
)
SAGA = {
    "reserve": (stock_services.stock_reserve, StockReserveRequestedV1),
    "release": (stock_services.stock_release, StockReleaseRequestedV1),
    "commit": (stock_services.stock_commit, StockCommitRequestedV1),
    "return": (stock_services.stock_return, StockReturnRequestedV1),
}


def _run(operation) -> None:
    kind, target, argument = operation
    if kind == "receive":
        stock_services.stock_receive(sku=target, quantity=argument)
    elif kind == "count":
        product = Product.objects.get(sku=target)
        on_hand = max(argument, Inventory.objects.get(product=product).reserved)
        product_services.stock_set(product=product, on_hand=on_hand)
    else:
        handle, command = SAGA[kind]
        handle(_command(command, target, argument))


@hypothesis_settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(OPERATIONS, max_size=12))
def test_a_rebuild_equals_the_live_state_after_any_operations(products, settings, operations):
    settings.STOCK_SNAPSHOT_EVERY = 3
    with transaction.atomic():  # each example starts from the fixture's three products
        for operation in operations:
            try:
                with transaction.atomic():
                    _run(operation)
            except (ValueError, ApplicationError):
                pass  # a transition the saga refuses (commit a released order, ...)
        live = levels()
        assert all(0 <= s.reserved <= s.on_hand for s in live.values())
        for sku in SKUS:
            assert stock_load(sku).state == stock_load(sku, use_snapshot=False).state == live[sku]
        Inventory.objects.update(on_hand=50, reserved=50)
        report = stock_projection_rebuild()
        assert report.differed == sorted(SKUS)
        assert levels() == live
        assert stock_projection_rebuild(check=True).differed == []
        transaction.set_rollback(True)


# --- the opening events of stock that predates the store -------------------------------------


def test_the_data_migration_opens_a_stream_for_each_existing_stock_row(catalog_owned):
    migration = importlib.import_module(
        "extracted.catalog.stock.migrations.0003_stock_opening_events"
    )
    kitchen = Category.objects.create(slug="kitchen", name="Kitchen")
    for sku, on_hand, held in (("OLD-1", 8, 3), ("OLD-2", 0, 0)):
        product = Product.objects.create(sku=sku, name=sku, category=kitchen, price=1)
        Inventory.objects.create(product=product, on_hand=on_hand, reserved=held)
    migration.opening_events(apps, None)
    migration.opening_events(apps, None)  # a second run adds nothing
    assert stream("OLD-1") == stream("OLD-2") == [(1, "adjusted")]
    assert stock_load("OLD-1").state == StockState(8, 3)
    live = levels()
    Inventory.objects.update(on_hand=0, reserved=0)
    stock_projection_rebuild()
    assert levels() == live
