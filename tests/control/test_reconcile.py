"""Reconciliation between the monolith and the catalog service, as real processes: none after a
backfill, then deliberate drift is found, reported readably, and repaired on the mirror."""

from __future__ import annotations

import pytest
import urllib3

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
                "MONOLITH_URL": mono.url,
                "BACKFILL_PASSWORD": STAFF_PASSWORD,
                "RECONCILE_PASSWORD": STAFF_PASSWORD,
            },
            setup=[["catalog_backfill", "--source", mono.url, "--username", "staff"]],
        )
        with service:
            yield mono, service, owners


def _reconcile(service, *extra: str):
    return service.run("reconcile", "--username", "staff", "--page-size", "25", *extra, check=False)


def test_drift_is_found_reported_and_repaired(sides):
    _monolith, service, _owners = sides

    # given a fresh backfill: no drift, exit 0
    clean = _reconcile(service)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.count("no drift") == 3  # product, category, inventory
    assert "compared in" in clean.stdout and "pages" in clean.stdout

    # when rows drift on the catalog side
    tamper = service.run("shell", "-c", DRIFT, check=False)
    assert tamper.returncode == 0, tamper.stderr

    # then the drift is found and explained, and the command fails
    found = _reconcile(service)
    assert found.returncode == 1, found.stdout
    assert "1 missing in the mirror, 1 extra in the mirror, 1 different" in found.stdout
    assert "different COF-0001: price: '" in found.stdout and "'999.99'" in found.stdout
    assert "different KIT-0003: on_hand:" in found.stdout
    assert "missing GAR-0002" in found.stdout and "extra ZZZ-EXTRA" in found.stdout
    assert "drift left in product, inventory" in found.stderr

    # the drift gauge on the catalog's /metrics says so per entity
    metrics = urllib3.request("GET", f"{service.url}/metrics").data.decode()
    assert 'strangler_reconcile_drift{entity="product",mirror="catalog",owner="monolith"} 3.0' in (
        metrics
    )

    # when the monolith owns products, --repair fixes our (the mirror's) copy
    repaired = _reconcile(service, "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "repaired 3 rows in the mirror (catalog)" in repaired.stdout
    after = _reconcile(service)
    assert after.returncode == 0 and after.stdout.count("no drift") == 3, after.stdout


def test_the_owner_repairs_the_monolith_s_copy_with_events_and_keeps_its_own(sides):
    _monolith, service, owners = sides
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
        repaired = _reconcile(service, "--repair", "--entity", "product")
        owners.write_text("product: frozen\ninventory: monolith\n")
        refused = _reconcile(service, "--repair", "--entity", "product")
    finally:
        owners.write_text("product: monolith\ninventory: monolith\n")
    # as the owner it never writes the monolith's database: it emits repair events (its outbox)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "emitted 1 repair events for the mirror (monolith)" in repaired.stdout
    assert refused.returncode == 1
    assert "being handed over" in refused.stdout
    emitted = service.run(
        "shell",
        "-c",
        "from servicekit.events.outbox.models import OutboxMessage; "
        "print(list(OutboxMessage.objects.filter(aggregate_id='KIT-0003')"
        ".values_list('event_type', flat=True)))",
    )
    assert "catalog.product_updated.v1" in emitted.stdout
    # the owner's own copy is the truth: it was not "repaired" back
    still = _reconcile(service, "--entity", "product")
    assert "different KIT-0003: name: " in still.stdout
