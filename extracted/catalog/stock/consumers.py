"""The catalog service handles the checkout saga's stock commands on its own queue."""

from contracts.checkout import (
    StockCommitRequestedV1,
    StockReleaseRequestedV1,
    StockReserveRequestedV1,
    StockReturnRequestedV1,
)
from extracted.catalog.products.consumers import consumer
from extracted.catalog.stock import services

consumer.on(StockReserveRequestedV1)(lambda command, envelope: services.stock_reserve(command))
consumer.on(StockReleaseRequestedV1)(lambda command, envelope: services.stock_release(command))
consumer.on(StockCommitRequestedV1)(lambda command, envelope: services.stock_commit(command))
consumer.on(StockReturnRequestedV1)(lambda command, envelope: services.stock_return(command))
