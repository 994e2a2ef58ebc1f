"""GraphQL types of the catalog: the REST read API's fields, camel-cased, read-only."""

from __future__ import annotations

from decimal import Decimal

import strawberry
import strawberry_django
from django.db.models import QuerySet

from extracted.catalog.products.models import Category, Inventory, Product


@strawberry_django.type(Inventory)
class Stock:
    # `only` tells the optimizer which columns the computed fields read.
    @strawberry_django.field(only=["on_hand", "reserved"])
    def available(self) -> int:
        return self.available

    @strawberry_django.field(only=["on_hand", "reserved"])
    def in_stock(self) -> bool:
        return self.available > 0


@strawberry_django.type(Product, name="Product")
class ProductType:
    sku: str
    name: str
    description: str
    price: Decimal
    currency: str
    category: CategoryType
    stock: Stock = strawberry_django.field(field_name="inventory")

    @classmethod
    def get_queryset(cls, queryset: QuerySet[Product], info, **kwargs) -> QuerySet[Product]:
        """Wherever products are listed (a category's too), the public sees active ones only."""
        return queryset.filter(is_active=True).order_by("sku")


@strawberry_django.type(Category, name="Category")
class CategoryType:
    slug: str
    name: str
    products: list[ProductType]


@strawberry.type
class ProductPage:
    """One page of the product list, as the REST list pages it (`count` counts every page)."""

    count: int
    page: int
    page_size: int
    results: list[ProductType]
