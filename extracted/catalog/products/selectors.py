"""Reads on the catalog."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, Q, QuerySet

from extracted.catalog.products.models import Category, PriceChange, Product

ORDERINGS = ("sku", "-sku", "name", "-name", "price", "-price", "created_at", "-created_at")


@dataclass(frozen=True)
class ProductFilters:
    q: str = ""
    category: str = ""
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    in_stock: bool | None = None
    ordering: str = "sku"
    include_inactive: bool = False


def product_list(*, filters: ProductFilters) -> QuerySet[Product]:
    qs = Product.objects.select_related("category", "inventory")
    if not filters.include_inactive:
        qs = qs.filter(is_active=True)
    if filters.q:
        qs = qs.filter(
            Q(name__icontains=filters.q)
            | Q(sku__icontains=filters.q)
            | Q(description__icontains=filters.q)
        )
    if filters.category:
        qs = qs.filter(category__slug=filters.category)
    if filters.min_price is not None:
        qs = qs.filter(price__gte=filters.min_price)
    if filters.max_price is not None:
        qs = qs.filter(price__lte=filters.max_price)
    if filters.in_stock is True:
        qs = qs.filter(inventory__on_hand__gt=F("inventory__reserved"))
    elif filters.in_stock is False:
        qs = qs.filter(inventory__on_hand__lte=F("inventory__reserved"))
    # A unique business key breaks ties, so pages are stable and the same on every copy of the
    # data (database ids differ between the monolith and an extracted service).
    tie = "-sku" if filters.ordering.startswith("-") else "sku"
    return qs.order_by(filters.ordering, tie)


def product_get(*, sku: str, include_inactive: bool = False) -> Product | None:
    qs = Product.objects.select_related("category", "inventory")
    if not include_inactive:
        qs = qs.filter(is_active=True)
    return qs.filter(sku=sku).first()


def products_by_sku(*, skus: list[str]) -> dict[str, Product]:
    return {
        p.sku: p
        for p in Product.objects.select_related("inventory").filter(sku__in=skus, is_active=True)
    }


def category_list() -> QuerySet[Category]:
    return Category.objects.order_by("name")


def price_history(*, product: Product) -> QuerySet[PriceChange]:
    return product.price_changes.order_by("-changed_at", "-id")
