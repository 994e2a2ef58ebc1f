"""Phase 2: the monolith mirrors the catalog service's events into its legacy tables, so the
code that still reads products here (orders, storefront) keeps seeing the truth."""

from contracts.catalog import (
    CategoryCreatedV1,
    ProductCreatedV1,
    ProductPriceChangedV1,
    ProductUpdatedV1,
    StockChangedV2,
)
from contracts.registry import EVENT_TYPES
from monolith.catalog import services
from servicekit.events.inbox.mirror import mirror
from servicekit.events.inbox.registry import EventConsumer

consumer = EventConsumer("monolith.catalog", event_types=EVENT_TYPES)

consumer.on(CategoryCreatedV1)(mirror(services.category_apply_created))
consumer.on(ProductCreatedV1)(mirror(services.product_apply_created))
consumer.on(ProductUpdatedV1)(mirror(services.product_apply_updated))
consumer.on(ProductPriceChangedV1)(mirror(services.product_apply_price_changed))
consumer.on(StockChangedV2)(mirror(services.stock_apply_changed))
