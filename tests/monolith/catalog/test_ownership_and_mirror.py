"""Phase 2 in the monolith: the catalog service owns products; the monolith refuses to write
them and mirrors the service's events so orders and the storefront keep seeing the truth."""

import uuid

import pytest

from contracts.catalog import ProductPriceChangedV1, ProductUpdatedV1, StockChangedV2
from monolith.catalog.models import Inventory, Product
from servicekit.events.envelope import Envelope, now_utc
from servicekit.events.inbox.processor import InboxProcessor
from servicekit.events.inbox.registry import get_consumer
from servicekit.events.outbox.models import OutboxMessage
from servicekit.migration.ownership import ownership_set
from tests.monolith.factories import ProductFactory
from tests.support.shapes import assert_problem

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def ownership_file(settings, tmp_path):
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")


def envelope(event, sequence, origin="catalog"):
    return Envelope(
        event_id=uuid.uuid4(),
        event_type=event.event_type,
        aggregate_type=event.aggregate_type,
        aggregate_id=event.aggregate_id,
        sequence=sequence,
        occurred_at=now_utc(),
        origin=origin,
        payload=event.to_payload(),
    )


def test_monolith_refuses_product_writes_it_no_longer_owns(staff_client, product):
    ownership_set("product", "catalog")
    response = staff_client.post(
        f"/api/v1/products/{product.sku}/price/", {"price": "1.00"}, format="json"
    )
    body = assert_problem(response, 503, "owner_moving")
    assert body["owner"] == "catalog"
    product.refresh_from_db()
    assert str(product.price) == "10.00"


def test_flipping_back_lets_the_monolith_write_again(staff_client, product):
    ownership_set("product", "catalog")
    ownership_set("product", "monolith")
    response = staff_client.post(
        f"/api/v1/products/{product.sku}/price/", {"price": "1.00"}, format="json"
    )
    assert response.json()["price"] == "1.00"


def test_catalog_events_are_mirrored_without_echo(product, customer_client):
    ownership_set("product", "catalog")
    inbox = InboxProcessor(get_consumer("monolith.catalog"))
    before = OutboxMessage.objects.count()

    inbox.process(
        [
            envelope(
                ProductUpdatedV1(
                    sku=product.sku,
                    name="Red mug",
                    description="",
                    category=product.category.slug,
                    is_active=True,
                ),
                1,
            ),
            envelope(
                ProductPriceChangedV1(
                    sku=product.sku, old_price="10.00", new_price="12.00", currency="EUR"
                ),
                2,
            ),
            envelope(
                StockChangedV2(sku=product.sku, on_hand=2, reserved=0, available=2, reason="count"),
                3,
            ),
        ]
    )

    product.refresh_from_db()
    assert (product.name, str(product.price)) == ("Red mug", "12.00")
    assert Inventory.objects.get(product=product).on_hand == 2
    assert OutboxMessage.objects.count() == before  # nothing echoed back
    # the monolith's orders see the mirrored price and stock
    order = customer_client.post(
        "/api/v1/orders/", {"lines": [{"sku": product.sku, "quantity": 2}]}, format="json"
    )
    assert order.json()["total"] == "24.00"
    short = customer_client.post(
        "/api/v1/orders/", {"lines": [{"sku": product.sku, "quantity": 1}]}, format="json"
    )
    assert_problem(short, 409, "insufficient_stock")


def test_the_monolith_skips_its_own_events_on_the_catalog_stream(product):
    inbox = InboxProcessor(get_consumer("monolith.catalog"))
    inbox.process(
        [
            envelope(
                StockChangedV2(sku=product.sku, on_hand=0, reserved=0, available=0, reason="x"),
                1,
                origin="monolith",
            )
        ]
    )
    assert Inventory.objects.get(product=product).on_hand == 5  # unchanged


def test_export_is_staff_only_and_carries_sequences(staff_client, customer_client):
    ProductFactory(sku="AAA-1")
    with_events = Product.objects.get(sku="AAA-1")
    assert_problem(customer_client.get("/api/v1/catalog/export/"), 403, "permission_denied")
    staff_client.post(
        f"/api/v1/products/{with_events.sku}/price/", {"price": "2.00"}, format="json"
    )
    staff_client.put(
        f"/api/v1/products/{with_events.sku}/inventory/", {"on_hand": 4}, format="json"
    )

    first = staff_client.get("/api/v1/catalog/export/", {"limit": 1}).json()
    assert [p["sku"] for p in first["products"]] == ["AAA-1"]
    assert first["products"][0]["sequence"] == 2
    assert first["products"][0]["on_hand"] == 4
    assert first["next_after"] == "AAA-1"
    assert (
        staff_client.get("/api/v1/catalog/export/", {"after": "AAA-1"}).json()["next_after"] is None
    )
