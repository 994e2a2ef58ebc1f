"""`python benchmarks/bench_stock_events.py`: what event-sourcing the catalog's stock costs.

On a fresh catalog database (SQLite in a temporary folder; PostgreSQL with `--postgres URL`,
a database of its own created and dropped there), one sku gets `--events` stock events
(default 1000) through the service's `stock_change`. Prints: the append rate (each one a load,
an insert, the projection update and the outbox row, in one transaction), the time to load the
sku from its newest snapshot against folding its whole stream, the same number of changes made
the way stock was kept before (one conditional row UPDATE and the outbox row), and the time of
`rebuild_stock_projection` for `--skus` skus (default 100) of 10 events each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup(postgres: str | None) -> tuple[str, str | None]:
    os.environ["DJANGO_SETTINGS_MODULE"] = "extracted.catalog.settings"
    os.environ.setdefault("DJANGO_ENV", "test")
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # not a line per outbox row
    folder = tempfile.mkdtemp(prefix="bench-stock-")
    os.environ["STRANGLER_DATA_DIR"] = folder
    os.environ["OWNERSHIP_FILE"] = str(Path(folder) / "ownership.yaml")
    name = None
    if postgres:
        from tests.support.fleet import postgres_database

        name = f"bench_stock_{uuid.uuid4().hex[:8]}"
        os.environ["CATALOG_DATABASE_URL"] = postgres_database(postgres, name)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return folder, name


def _timed(function, repeat: int) -> float:
    """Median milliseconds of `repeat` calls."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def run(events: int = 1000, skus: int = 100, postgres: str | None = None) -> dict[str, float]:
    """The figures, measured in this process on a fresh catalog database: sets Django up with
    the catalog's settings (and changes this process's environment to do so), so run it in a
    process of its own (`make cost` spawns one). `postgres`: a server URL; the database made
    there is dropped after."""
    folder, database = _setup(postgres)
    try:
        from django.conf import settings
        from django.db import transaction
        from django.db.models import F

        from extracted.catalog.products import services as products
        from extracted.catalog.products.models import Inventory
        from extracted.catalog.stock.aggregate import received
        from extracted.catalog.stock.eventstore import (
            stock_change,
            stock_changed_event,
            stock_load,
        )
        from extracted.catalog.stock.projection import stock_projection_rebuild
        from servicekit.events.outbox import outbox_enqueue
        from servicekit.migration.ownership import ownership_set

        for entity in ("product", "inventory"):
            ownership_set(entity, "catalog")
        products.category_create(slug="bench", name="Bench")

        def product(sku: str) -> None:
            products.product_create(sku=sku, name=sku, category="bench", price=Decimal("1"))

        def receive(sku: str) -> None:
            stock_change(sku=sku, decide=lambda state: [received(1)], reason="bench")

        product("HOT-1")
        start = time.perf_counter()
        for _ in range(events):
            receive("HOT-1")
        seconds = time.perf_counter() - start
        product("ROW-1")
        start = time.perf_counter()
        for _ in range(events):
            with transaction.atomic():  # the row-only way: no history, no version
                Inventory.objects.filter(product__sku="ROW-1").update(on_hand=F("on_hand") + 1)
                row = Inventory.objects.get(product__sku="ROW-1")
                outbox_enqueue(stock_changed_event("ROW-1", row, "bench"))
        row_seconds = time.perf_counter() - start
        snap = _timed(lambda: stock_load("HOT-1"), 50)
        full = _timed(lambda: stock_load("HOT-1", use_snapshot=False), 20)
        for n in range(skus):
            product(f"SKU-{n:05d}")
            for _ in range(10):
                receive(f"SKU-{n:05d}")
        rebuild = _timed(stock_projection_rebuild, 3)
        return {
            "events": events,
            "snapshot_every": settings.STOCK_SNAPSHOT_EVERY,
            "append_ms": seconds * 1000 / events,
            "row_update_ms": row_seconds * 1000 / events,
            "load_snapshot_ms": snap,
            "load_full_ms": full,
            "rebuild_skus": skus + 2,
            "rebuild_events": skus * 11 + events + 2,
            "rebuild_ms": rebuild,
        }
    finally:
        from django.db import connections

        connections.close_all()
        shutil.rmtree(folder, ignore_errors=True)
        if database:
            from tests.support.fleet import postgres_database

            postgres_database(postgres, database, drop=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--skus", type=int, default=100)
    parser.add_argument("--postgres", help="a PostgreSQL server URL (default: SQLite)")
    args = parser.parse_args(argv)
    r = run(args.events, args.skus, args.postgres)
    print(f"backend: {'postgresql' if args.postgres else 'sqlite'}")
    print(f"append: {1000 / r['append_ms']:.0f} events/s ({r['append_ms']:.2f} ms each)")
    print(
        f"row update instead (no events): {1000 / r['row_update_ms']:.0f} changes/s "
        f"({r['row_update_ms']:.2f} ms each)"
    )
    print(f"load from snapshot (every {r['snapshot_every']}): {r['load_snapshot_ms']:.2f} ms")
    print(f"load folding all {args.events + 1} events: {r['load_full_ms']:.2f} ms")
    print(
        f"rebuild_stock_projection, {r['rebuild_skus']} skus / {r['rebuild_events']} events: "
        f"{r['rebuild_ms']:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
