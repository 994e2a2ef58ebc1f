"""The current stock level per product (`Inventory`, which the APIs read) as a projection of
the stock event store: kept in step by every append, and rebuilt from zero by
`manage.py rebuild_stock_projection`."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby

from django.db import transaction
from django.utils import timezone

from extracted.catalog.products.models import Inventory
from extracted.catalog.stock.aggregate import StockEventData, StockState, fold
from extracted.catalog.stock.models import StockEvent


def stock_project(sku: str, state: StockState, version: int) -> None:
    """Write `state` at `version` over the sku's stock row, unless the row already shows a
    newer version (a writer that read older and decided nothing must not undo a newer append).
    A sku with no product has no row: nothing to do."""
    Inventory.objects.filter(product__sku=sku, stock_version__lte=version).update(
        on_hand=state.on_hand,
        reserved=state.reserved,
        stock_version=version,
        updated_at=timezone.now(),
    )


def stock_levels_folded() -> dict[str, tuple[StockState, int]]:
    """Every sku's state and version, folded from its first event (snapshots ignored)."""
    rows = (
        StockEvent.objects.order_by("aggregate_id", "version")
        .values_list("aggregate_id", "version", "type", "payload")
        .iterator(chunk_size=2000)
    )
    folded = {}
    for sku, stream in groupby(rows, key=lambda row: row[0]):
        events = list(stream)
        folded[sku] = (fold(StockEventData(t, p) for _, _, t, p in events), events[-1][1])
    return folded


@dataclass
class RebuildReport:
    skus: int = 0
    events: int = 0
    differed: list[str] = field(default_factory=list)


@transaction.atomic
def stock_projection_rebuild(*, check: bool = False) -> RebuildReport:
    """Rebuild every stock row from zero out of the event store (`check`: only compare).

    The stock rows are locked first: a writer that appends meanwhile waits to write its row
    until this commits, so it lands after the rebuild and nothing newer is overwritten.
    """
    live = {
        sku: StockState(on_hand=on_hand, reserved=reserved)
        for sku, on_hand, reserved in Inventory.objects.select_for_update(of=("self",))
        .order_by("product_id")
        .values_list("product__sku", "on_hand", "reserved")
    }
    folded = stock_levels_folded()
    report = RebuildReport(skus=len(live), events=StockEvent.objects.count())
    report.differed = sorted(
        sku for sku, state in live.items() if folded.get(sku, (StockState(), 0))[0] != state
    )
    if not check:
        Inventory.objects.update(on_hand=0, reserved=0, stock_version=0, updated_at=timezone.now())
        for sku, (state, version) in folded.items():
            if sku in live:
                stock_project(sku, state, version)
    return report
