"""Reconciliation between the monolith and the catalog service, as real processes: none after a
backfill, then deliberate drift is found, reported readably, and repaired on the non-owner."""

from __future__ import annotations

import pytest

from tests.support import fleet

pytestmark = pytest.mark.e2e
STAFF_PASSWORD = "staff-demo-pass"

DRIFT = """
from decimal import Decimal
from extracted.catalog.products.models import Category, Inventory, Product
p = Product.objects.get(sku="COF-0001"); p.price = Decimal("999.99"); p.save()
Inventory.objects.filter(product__sku="KIT-0003").update(on_hand=12345)
Product.objects.filter(sku="GAR-0002").delete()
Product.objects.create(sku="ZZZ-EXTRA", name="Ghost", category=Category.objects.first(), price=1)
"""


@pytest.fixture(scope="module")
def sides(tmp_path_factory):
    data = tmp_path_factory.mktemp("reconcile")
    owners = data / "ownership.yaml"
    owners.write_text("product: monolith\ninventory: monolith\n")
    with fleet.monolith(data, env={"OWNERSHIP_FILE": str(owners)}, setup=[["seed_demo"]]) as mono:
        service = fleet.catalog(
            data,
            env={
                "OWNERSHIP_FILE": str(owners),
                "JWKS_URL": f"{mono.url}/.well-known/jwks.json",
                "BACKFILL_PASSWORD": STAFF_PASSWORD,
            },
            setup=[["catalog_backfill", "--source", mono.url, "--username", "staff"]],
        )
        with service:
            yield mono, service, owners


def _reconcile(service, monolith, *extra: str):
    return service.run(
        "catalog_reconcile",
        "--source",
        monolith.url,
        "--username",
        "staff",
        "--batch-size",
        "25",
        *extra,
        check=False,
    )


def test_drift_is_found_reported_and_repaired(sides):
    monolith, service, _owners = sides

    # given a fresh backfill: no drift, exit 0
    clean = _reconcile(service, monolith)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "no drift" in clean.stdout
    assert "compared in" in clean.stdout and "batches" in clean.stdout

    # when rows drift on the catalog side
    tamper = service.run("shell", "-c", DRIFT, check=False)
    assert tamper.returncode == 0, tamper.stderr

    # then the drift is found and explained, and the command fails
    found = _reconcile(service, monolith)
    assert found.returncode == 1, found.stdout
    assert "1 missing here, 1 extra here, 2 different" in found.stdout
    assert "different COF-0001: price: '" in found.stdout and "'999.99'" in found.stdout
    assert "different KIT-0003: on_hand:" in found.stdout
    assert "missing GAR-0002" in found.stdout and "extra ZZZ-EXTRA" in found.stdout
    assert "drift found" in found.stderr

    # when the monolith owns products, --repair fixes our (the non-owner's) copy
    repaired = _reconcile(service, monolith, "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "repaired 4 rows here" in repaired.stdout
    after = _reconcile(service, monolith)
    assert after.returncode == 0 and "no drift" in after.stdout, after.stdout


def test_the_owner_repairs_the_monolith_s_copy_with_events_and_keeps_its_own(sides):
    monolith, service, owners = sides
    tamper = service.run(
        "shell",
        "-c",
        "from extracted.catalog.products.models import Product; "
        "assert Product.objects.filter(sku='KIT-0003').update(name='Drifted') == 1",
        check=False,
    )
    assert tamper.returncode == 0, tamper.stderr
    owners.write_text("product: catalog\ninventory: monolith\n")
    try:
        repaired = _reconcile(service, monolith, "--repair")
        frozen = owners.write_text("product: frozen\ninventory: monolith\n")
        refused = _reconcile(service, monolith, "--repair")
    finally:
        owners.write_text("product: monolith\ninventory: monolith\n")
    # as the owner it never writes the monolith's database: it emits repair events (its outbox)
    assert repaired.returncode == 0, repaired.stderr
    assert "emitted 1 repair events for the monolith's copy" in repaired.stdout
    assert frozen is not None and refused.returncode == 1
    assert "no repair during a handover" in refused.stderr
    emitted = service.run(
        "shell",
        "-c",
        "from servicekit.events.outbox.models import OutboxMessage; "
        "print(list(OutboxMessage.objects.filter(aggregate_id='KIT-0003')"
        ".values_list('event_type', flat=True)))",
    )
    assert "catalog.product_updated.v1" in emitted.stdout
    # the owner's own copy is the truth: it was not "repaired" back
    still = _reconcile(service, monolith)
    assert "different KIT-0003: name: " in still.stdout
