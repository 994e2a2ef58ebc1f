"""Events about products, prices and stock (aggregate: product, keyed by sku). Money as strings."""

from __future__ import annotations

from dataclasses import dataclass

from servicekit.events.event import Event


@dataclass(frozen=True)
class CategoryCreatedV1(Event):
    event_type = "catalog.category_created.v1"
    aggregate_type = "category"

    slug: str
    name: str

    @property
    def aggregate_id(self) -> str:
        return self.slug


@dataclass(frozen=True)
class _ProductEvent(Event):
    aggregate_type = "product"

    sku: str

    @property
    def aggregate_id(self) -> str:
        return self.sku


@dataclass(frozen=True)
class ProductCreatedV1(_ProductEvent):
    event_type = "catalog.product_created.v1"

    name: str
    description: str
    category: str
    price: str
    currency: str
    is_active: bool
    on_hand: int
    reserved: int


@dataclass(frozen=True)
class ProductUpdatedV1(_ProductEvent):
    event_type = "catalog.product_updated.v1"

    name: str
    description: str
    category: str
    is_active: bool


@dataclass(frozen=True)
class ProductPriceChangedV1(_ProductEvent):
    event_type = "catalog.product_price_changed.v1"

    old_price: str
    new_price: str
    currency: str


@dataclass(frozen=True)
class StockChangedV1(_ProductEvent):
    """Absolute levels after the change, so applying it twice is harmless."""

    event_type = "catalog.stock_changed.v1"

    on_hand: int
    reserved: int
    reason: str


@dataclass(frozen=True)
class StockChangedV2(_ProductEvent):
    """V1 plus `available` (on hand minus reserved); consumers upcast V1 for one release."""

    event_type = "catalog.stock_changed.v2"

    on_hand: int
    reserved: int
    available: int
    reason: str
