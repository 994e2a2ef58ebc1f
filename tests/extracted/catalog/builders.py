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


def catalog_rows(products: int, *, categories: int = 2, inactive: int = 0) -> list[str]:
    """`products` active products (and `inactive` more) over `categories` categories, each with
    stock; their SKUs, in SKU order."""
    from extracted.catalog.products.models import Category, Inventory, Product

    kinds = [Category.objects.create(slug=f"kind-{k}", name=f"Kind {k}") for k in range(categories)]
    skus = []
    for n in range(products + inactive):
        product = Product.objects.create(
            sku=f"GQL-{n:04d}",
            name=f"Thing {n}",
            description=f"thing number {n}",
            category=kinds[n % categories],
            price=Decimal("1.50") + n,
            is_active=n < products,
        )
        Inventory.objects.create(product=product, on_hand=n % 4, reserved=min(n % 4, n % 3))
        if n < products:
            skus.append(product.sku)
    return skus
