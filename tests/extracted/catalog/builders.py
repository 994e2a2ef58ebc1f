"""Events the catalog tests feed the service."""

from __future__ import annotations

from decimal import Decimal


def product_created(sku: str = "MUG-1", **overrides):
    from contracts.catalog import ProductCreatedV1

    fields = {
        "sku": sku,
        "name": "Mug",
        "description": "",
        "category": "kitchen",
        "price": str(Decimal("4.50")),
        "currency": "EUR",
        "is_active": True,
        "on_hand": 10,
        "reserved": 0,
        **overrides,
    }
    return ProductCreatedV1(**fields)
