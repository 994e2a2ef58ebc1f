"""Product, category and stock reconciliation on the catalog's side, both directions."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from extracted.catalog.products.models import Category, Inventory, Product
from servicekit.events.outbox.models import OutboxMessage
from servicekit.migration.ownership import ownership_set
from tests.support.export_rows import product_export_row
from tests.support.reconcile import FakeExport, drift_gauges, drift_kinds, reconcile_here

pytestmark = pytest.mark.django_db
CATEGORIES = [
    {"slug": "kitchen", "name": "Kitchen", "sequence": 1},
    {"slug": "garden", "name": "Garden", "sequence": 1},
]


@pytest.fixture(autouse=True)
def outcomes_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def make(sku, price="4.50", on_hand=10, name="Mug"):
    category, _ = Category.objects.get_or_create(slug="kitchen", defaults={"name": "Kitchen"})
    product = Product.objects.create(sku=sku, name=name, category=category, price=Decimal(price))
    Inventory.objects.create(product=product, on_hand=on_hand)
    return product


def monolith_export(*rows):
    return FakeExport(size=2).serve(
        "/api/v1/catalog/export/", "products", list(rows), categories=CATEGORIES
    )


def drifted():
    """Same MUG-1, MUG-2's price and MUG-3's stock differ, MUG-4 only there, ZZZ-1 only here."""
    for sku in ("MUG-1", "MUG-3"):
        make(sku)
    make("MUG-2", price="9.99")
    Inventory.objects.filter(product__sku="MUG-3").update(on_hand=7)
    make("ZZZ-1")
    return monolith_export(
        *(product_export_row(sku, 1) for sku in ("MUG-1", "MUG-2", "MUG-3", "MUG-4"))
    )


def test_a_mirror_that_drifted_is_reported_then_repaired_through_its_apply_path():
    export = drifted()

    found = reconcile_here(export)

    assert drift_kinds(found["product"]) == [
        ("MUG-2", "different"),
        ("MUG-4", "missing"),
        ("ZZZ-1", "extra"),
    ]
    assert found["product"].drift[0].fields == {"price": ("4.50", "9.99")}
    assert drift_kinds(found["inventory"]) == [
        ("MUG-3", "different"),
        ("MUG-4", "missing"),
        ("ZZZ-1", "extra"),
    ]
    assert drift_kinds(found["category"]) == [("garden", "missing")]
    assert (found["product"].owner, found["product"].mirror) == ("monolith", "catalog")
    assert "1 missing in the mirror, 1 extra in the mirror, 1 different" in (
        found["product"].summary()
    )
    assert drift_gauges(Client()) == {"product": 3, "inventory": 3, "category": 1}

    repaired = reconcile_here(export, fix=True)

    assert repaired["product"].repaired == 3 and repaired["product"].remaining == 0
    assert Product.objects.get(sku="MUG-2").price == Decimal("4.50")
    assert Inventory.objects.get(product__sku="MUG-3").on_hand == 10
    assert not Product.objects.filter(sku="ZZZ-1").exists()
    assert Category.objects.get(slug="garden").name == "Garden"
    assert all(r.clean for r in reconcile_here(export).values())
    assert drift_gauges(Client()) == {"product": 0, "inventory": 0, "category": 0}
    assert not OutboxMessage.objects.exists()  # a mirror's repair emits nothing


def test_the_owner_repairs_the_monolith_s_copy_with_events_and_keeps_its_own(catalog_owned):
    export = drifted()

    reports = reconcile_here(export, fix=True)

    # from the mirror's side: ZZZ-1 is missing there, MUG-4 is extra there
    assert drift_kinds(reports["product"]) == [
        ("MUG-2", "different"),
        ("MUG-4", "extra"),
        ("ZZZ-1", "missing"),
    ]
    events = list(OutboxMessage.objects.order_by("id").values_list("event_type", "aggregate_id"))
    assert events == [
        ("catalog.product_updated.v1", "MUG-2"),
        ("catalog.product_price_changed.v1", "MUG-2"),
        ("catalog.product_created.v1", "ZZZ-1"),
        ("catalog.stock_changed.v2", "MUG-3"),
    ]
    price = OutboxMessage.objects.get(event_type="catalog.product_price_changed.v1").payload
    assert (price["old_price"], price["new_price"]) == ("4.50", "9.99")
    # a row only the monolith has cannot be repaired by events: it stays, and says where to go
    assert reports["product"].remaining == 1
    assert "run the reconciliation with --repair on the mirror (monolith)" in (
        reports["product"].summary()
    )
    # the owner's own copy is the truth: nothing here moved
    assert Product.objects.get(sku="MUG-2").price == Decimal("9.99")
    assert Product.objects.filter(sku="ZZZ-1").exists()


def test_no_reconciliation_during_a_handover():
    make("MUG-1", price="9.99")
    ownership_set("product", "frozen")

    reports = reconcile_here(monolith_export(product_export_row("MUG-1", 1)), fix=True)

    assert "being handed over" in reports["product"].note
    assert Product.objects.get(sku="MUG-1").price == Decimal("9.99")
    assert "product" not in drift_gauges(Client())


def test_the_command_prints_the_report_and_fails_on_drift_it_did_not_repair(monkeypatch, capsys):
    export = drifted()
    monkeypatch.setattr(
        "servicekit.migration.management.commands.reconcile.staff_source",
        lambda url, **kwargs: export,
    )

    with pytest.raises(CommandError, match="drift left in product, category, inventory"):
        call_command("reconcile")
    out = capsys.readouterr().out
    assert "product: owner monolith 4, mirror catalog 4 (compared in 2 pages)" in out
    assert "different MUG-2: price: '4.50' != '9.99'" in out
    assert "missing MUG-4" in out and "extra ZZZ-1" in out and "DRIFT" in out

    call_command("reconcile", "--repair", "--entity", "product")
    assert "repaired 3 rows in the mirror (catalog)" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no reconciliation for \\['stock'\\]"):
        call_command("reconcile", "--entity", "stock")


class _Arriving:
    """The monolith's export as an event in flight makes it: `before` first, `after` then."""

    def __init__(self, before: FakeExport, after: FakeExport):
        self.served = [before, after]

    def pages(self, path: str, *, limit: int = 200):
        export = self.served.pop(0) if len(self.served) > 1 else self.served[0]
        return export.pages(path, limit=limit)


def test_with_settle_drift_that_goes_meanwhile_is_not_drift(monkeypatch, capsys):
    # given: MUG-4 reaches the monolith's copy just after the first comparison saw it missing
    make("MUG-1")
    in_flight = monolith_export(product_export_row("MUG-1", 1), product_export_row("MUG-4", 1))
    arrived = monolith_export(product_export_row("MUG-1", 1))
    sources = iter([_Arriving(in_flight, arrived), _Arriving(in_flight, arrived)])
    monkeypatch.setattr(
        "servicekit.migration.management.commands.reconcile.staff_source",
        lambda url, **kwargs: next(sources),
    )

    # then: counted at once it is drift; given a moment to settle it is gone
    with pytest.raises(CommandError, match="drift left in product"):
        call_command("reconcile", "--entity", "product")
    call_command("reconcile", "--entity", "product", "--settle", "10")
    out = capsys.readouterr().out
    assert out.count("no drift") == 1 and "missing MUG-4" in out  # the first run's report


def test_with_settle_drift_that_stays_still_fails(monkeypatch):
    make("MUG-1")
    stays = monolith_export(product_export_row("MUG-1", 1), product_export_row("MUG-4", 1))
    monkeypatch.setattr(
        "servicekit.migration.management.commands.reconcile.staff_source",
        lambda url, **kwargs: stays,
    )

    with pytest.raises(CommandError, match="drift left in product"):
        call_command("reconcile", "--entity", "product", "--settle", "0.6")


def test_the_periodic_task_reports_and_repairs_only_when_configured(monkeypatch, settings):
    from servicekit.migration import reconcile_run, tasks

    export = drifted()
    logins = []

    def staff_source(url, **kwargs):
        logins.append((url, kwargs["username"]))
        return export

    monkeypatch.setattr(reconcile_run, "staff_source", staff_source)
    settings.RECONCILE_USERNAME, settings.RECONCILE_PASSWORD = "staff", "secret"
    settings.RECONCILE_SOURCES = {"monolith": "http://monolith.test"}

    assert tasks.reconcile_task() == {"product": 3, "category": 1, "inventory": 3}
    assert Product.objects.get(sku="MUG-2").price == Decimal("9.99")  # reported, not repaired
    assert logins == [("http://monolith.test", "staff")]  # one session per peer

    settings.RECONCILE_REPAIR = True
    assert tasks.reconcile_task() == {"product": 0, "category": 0, "inventory": 0}
    assert Product.objects.get(sku="MUG-2").price == Decimal("4.50")


def test_a_row_that_cannot_be_applied_is_reported_and_the_others_are_repaired(monkeypatch):
    from extracted.catalog.products.reconcile import ProductMirror

    export = drifted()
    real = ProductMirror.apply

    def apply(self, row):
        if row["sku"] == "MUG-4":
            raise ValueError("no such category")
        real(self, row)

    monkeypatch.setattr(ProductMirror, "apply", apply)

    report = reconcile_here(export, names=["product"], fix=True)["product"]

    assert (report.repaired, report.remaining) == (2, 1)
    assert "failed MUG-4: ValueError: no such category" in report.summary()
    assert Product.objects.get(sku="MUG-2").price == Decimal("4.50")
    assert drift_gauges(Client()) == {"product": 1}


def test_an_export_row_older_than_what_the_consumer_applied_is_not_forced_back():
    from servicekit.events.inbox.models import InboxCursor

    export = drifted()  # every export row says sequence 1
    # the live stream already applied MUG-2's change 2 (its new price) after the export was read
    InboxCursor.objects.create(
        consumer="catalog", aggregate_type="product", aggregate_id="MUG-2", last_sequence=2
    )

    report = reconcile_here(export, names=["product"], fix=True)["product"]

    assert Product.objects.get(sku="MUG-2").price == Decimal("9.99")
    assert (report.repaired, report.remaining) == (2, 1)
    assert "failed MUG-2: StreamIsPast: the live stream applied a newer change" in report.summary()
