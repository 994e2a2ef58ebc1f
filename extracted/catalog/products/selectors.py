"""Reads on the catalog."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from extracted.catalog.products.models import Category, PriceChange, Product
from servicekit.events.outbox import AggregateSequence
from servicekit.web.errors import InvalidInputError

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


QUOTE_MAX_SKUS = 100
SKU_MAX_LENGTH = Product._meta.get_field("sku").max_length
# The refusals' words, the same over REST (QuoteQuerySerializer) and gRPC.
TOO_MANY_SKUS = "Ask for at most {max_length} SKUs at a time."
SKU_TOO_LONG = "A SKU has at most {max_length} characters."


@dataclass(frozen=True)
class SkuQuote:
    sku: str
    name: str
    price: Decimal
    currency: str
    available: int


def products_quote(*, skus: list[str]) -> tuple[list[SkuQuote], list[str]]:
    """Current price and availability of each SKU asked (REST and gRPC answer from here):
    (quotes of the known, active ones in the order asked, the SKUs not sold). Raises
    InvalidInputError for none, more than QUOTE_MAX_SKUS SKUs (counted as sent, repeats too, as
    the REST serializer and the schema count them), or one longer than a SKU can be."""
    wanted = list(dict.fromkeys(skus))
    if not wanted:
        raise InvalidInputError("Ask for at least one SKU.", code="no_skus")
    if len(skus) > QUOTE_MAX_SKUS:
        raise InvalidInputError(
            TOO_MANY_SKUS.format(max_length=QUOTE_MAX_SKUS), code="too_many_skus"
        )
    if any(len(sku) > SKU_MAX_LENGTH for sku in wanted):
        raise InvalidInputError(SKU_TOO_LONG.format(max_length=SKU_MAX_LENGTH), code="sku_too_long")
    found = products_by_sku(skus=wanted)
    quotes = [
        SkuQuote(
            sku=p.sku,
            name=p.name,
            price=p.price,
            currency=p.currency,
            available=p.inventory.available if hasattr(p, "inventory") else 0,
        )
        for sku in wanted
        if (p := found.get(sku)) is not None
    ]
    return quotes, [sku for sku in wanted if sku not in found]


def category_list() -> QuerySet[Category]:
    return Category.objects.order_by("name")


def price_history(*, product: Product) -> QuerySet[PriceChange]:
    return product.price_changes.order_by("-changed_at", "-id")


def _sequence_of(aggregate_type: str, key: str):
    """The aggregate's last event sequence, read in the same statement as the row itself."""
    last = AggregateSequence.objects.filter(
        aggregate_type=aggregate_type, aggregate_id=OuterRef(key)
    ).values("last_sequence")[:1]
    return Coalesce(Subquery(last, output_field=IntegerField()), Value(0))


def catalog_export_products(*, after: str = "", limit: int = 200) -> QuerySet[Product]:
    """A page of products with stock and the event sequence each snapshot reflects, by sku.

    One SQL statement per page, so each row and its sequence are one consistent snapshot: a
    consumer that seeds its cursor with `sequence` applies exactly the later events.
    """
    return (
        Product.objects.select_related("category", "inventory")
        .filter(sku__gt=after)
        .annotate(sequence=_sequence_of("product", "sku"))
        .order_by("sku")[:limit]
    )


def catalog_export_categories() -> QuerySet[Category]:
    return Category.objects.annotate(sequence=_sequence_of("category", "slug")).order_by("slug")
