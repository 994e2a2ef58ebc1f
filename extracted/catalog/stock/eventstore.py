"""The stock event store: load a sku's stream (from its newest snapshot), append after the
version it was read at (optimistic concurrency), and in the same transaction keep the stock
projection (`Inventory`) and the outbox up to date.

Every write of stock goes through `stock_change`: load, decide, append; a writer that lost the
race to another one loads again and decides again (the second decision may differ: the units it
wanted may be gone). Nothing here locks a row while deciding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from contracts.catalog import StockChangedV2
from extracted.catalog.stock import projection
from extracted.catalog.stock.aggregate import StockEventData, StockState, adjusted, fold
from extracted.catalog.stock.models import StockEvent, StockSnapshot
from servicekit.events.outbox import outbox_enqueue
from servicekit.web.errors import ApplicationError, InvalidInputError

APPEND_ATTEMPTS = 5

Decide = Callable[[StockState], Sequence[StockEventData]]


class StockConcurrencyError(ApplicationError):
    """Another writer appended to this sku's stream after we read it (answers 409)."""

    code = "stock_version_conflict"
    title = "Stock changed meanwhile"
    retry_after = 1


@dataclass(frozen=True)
class LoadedStock:
    sku: str
    state: StockState
    version: int  # of the last event folded into `state`; 0 for a sku with no events


def stock_load(sku: str, *, use_snapshot: bool = True) -> LoadedStock:
    """A sku's state: its newest snapshot, then the events after it folded over it."""
    snapshot = (
        StockSnapshot.objects.filter(aggregate_id=sku).order_by("-version").first()
        if use_snapshot
        else None
    )
    state, version = (StockState(**snapshot.state), snapshot.version) if snapshot else (None, 0)
    rows = list(
        StockEvent.objects.filter(aggregate_id=sku, version__gt=version)
        .order_by("version")
        .values_list("version", "type", "payload")
    )
    if rows:
        version = rows[-1][0]
    return LoadedStock(sku, fold((StockEventData(t, p) for _, t, p in rows), state), version)


def stock_append(loaded: LoadedStock, events: Sequence[StockEventData]) -> LoadedStock:
    """Append `events` right after `loaded.version`; raise `StockConcurrencyError` when another
    writer appended there first (the unique (aggregate, version) refuses the second row).

    Runs in a savepoint, so the caller's transaction stays usable after a conflict. Writes a
    snapshot when the append crosses a multiple of `STOCK_SNAPSHOT_EVERY`.
    """
    rows = [
        StockEvent(
            aggregate_id=loaded.sku,
            version=loaded.version + n,
            type=event.type,
            payload=dict(event.payload),
        )
        for n, event in enumerate(events, start=1)
    ]
    try:
        with transaction.atomic():
            StockEvent.objects.bulk_create(rows)
    except IntegrityError:
        raise StockConcurrencyError(
            f"stock of {loaded.sku} changed after version {loaded.version}; read it again.",
            details={"sku": loaded.sku, "expected_version": loaded.version},
        ) from None
    after = LoadedStock(loaded.sku, fold(events, loaded.state), loaded.version + len(rows))
    every = settings.STOCK_SNAPSHOT_EVERY
    if after.version // every > loaded.version // every:
        StockSnapshot.objects.create(
            aggregate_id=after.sku, version=after.version, state=after.state.as_dict()
        )
    return after


def stock_changed_event(sku: str, level, reason: str) -> StockChangedV2:
    """`catalog.stock_changed` for a level (a `StockState` or an `Inventory` row)."""
    return StockChangedV2(
        sku=sku,
        on_hand=level.on_hand,
        reserved=level.reserved,
        available=level.available,
        reason=reason,
    )


@transaction.atomic
def stock_change(
    *, sku: str, decide: Decide, reason: str | None, attempts: int = APPEND_ATTEMPTS
) -> StockState:
    """Load the sku, let `decide` name the events (none: nothing changes), append them, and in
    the same transaction update the projection and, given a `reason`, enqueue
    `catalog.stock_changed` (mirrored changes pass None: the owner already published them).

    `decide` is called again after a conflict, on the newer state; after `attempts` conflicts in
    a row the `StockConcurrencyError` goes to the caller (an API answers 409).
    """
    for attempt in range(1, attempts + 1):
        loaded = stock_load(sku)
        events = decide(loaded.state)
        if not events:
            # nothing to change, but a projection row that drifted from the stream is put right
            projection.stock_project(sku, loaded.state, loaded.version)
            return loaded.state
        try:
            after = stock_append(loaded, events)
        except StockConcurrencyError:
            if attempt == attempts:
                raise
            continue
        projection.stock_project(sku, after.state, after.version)
        if reason is not None:
            outbox_enqueue(stock_changed_event(sku, after.state, reason))
        return after.state
    raise AssertionError("unreachable")


def counted(*, on_hand: int, reserved: int | None = None, reason: str = "adjustment") -> Decide:
    """A stock-take: set on hand (and reserved; None keeps what is held) to counted values."""

    def decide(state: StockState) -> list[StockEventData]:
        held = state.reserved if reserved is None else reserved
        if held > on_hand:
            raise InvalidInputError(
                f"reserved ({held}) cannot exceed on_hand ({on_hand}).",
                code="reserved_exceeds_on_hand",
            )
        if (state.on_hand, state.reserved) == (on_hand, held):
            return []
        return [adjusted(on_hand=on_hand, reserved=held, reason=reason)]

    return decide
