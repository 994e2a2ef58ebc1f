"""Stock rows that predate the event store become each sku's opening event (an `adjusted` to
the levels they hold), so no stock is lost and the projection rebuilds to the same levels."""

from django.db import migrations


def opening_events(apps, schema_editor):
    Inventory = apps.get_model("products", "Inventory")
    StockEvent = apps.get_model("stock", "StockEvent")
    started = set(StockEvent.objects.values_list("aggregate_id", flat=True).distinct())
    StockEvent.objects.bulk_create(
        [
            StockEvent(
                aggregate_id=sku,
                version=1,
                type="adjusted",
                payload={"on_hand": on_hand, "reserved": reserved, "reason": "opening"},
            )
            for sku, on_hand, reserved in Inventory.objects.order_by("product_id").values_list(
                "product__sku", "on_hand", "reserved"
            )
            if sku not in started
        ],
        batch_size=1000,
    )
    Inventory.objects.filter(stock_version=0).update(stock_version=1)


def drop_opening_events(apps, schema_editor):
    StockEvent = apps.get_model("stock", "StockEvent")
    StockEvent.objects.filter(version=1, type="adjusted", payload__reason="opening").delete()
    apps.get_model("products", "Inventory").objects.update(stock_version=0)


class Migration(migrations.Migration):
    dependencies = [
        ("products", "0002_inventory_stock_version"),
        ("stock", "0002_stock_event_store"),
    ]

    operations = [migrations.RunPython(opening_events, drop_opening_events)]
