"""Rows as the monolith's staff export APIs page them, for backfill and handover tests."""

from __future__ import annotations

from typing import Any


def product_export_row(sku: str, sequence: int, **overrides: Any) -> dict[str, Any]:
    """One row of `/api/v1/catalog/export/` `products`."""
    base = {
        "sku": sku,
        "name": "Mug",
        "description": "",
        "category": "kitchen",
        "price": "4.50",
        "currency": "EUR",
        "is_active": True,
        "on_hand": 10,
        "reserved": 0,
        "sequence": sequence,
    }
    return {**base, **overrides}
