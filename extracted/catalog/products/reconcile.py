"""Reconciliation: the catalog on both sides, compared in batches by per-row checksums.

The monolith's side is read through its export API (pages ordered by sku), ours from the
database in the same sku ranges, so memory stays one page whatever the catalog's size. Only the
business fields are compared (no timestamps, no ids). Drift is missing rows (the monolith has
them, we do not), extra rows (only we have them) and different rows (field by field).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction

from contracts.catalog import CategoryCreatedV1
from extracted.catalog.products import services
from extracted.catalog.products.backfill import _product_event
from extracted.catalog.products.models import Category, Product

FIELDS = (
    "sku",
    "name",
    "description",
    "category",
    "price",
    "currency",
    "is_active",
    "on_hand",
    "reserved",
)


def business_row(row: dict[str, Any]) -> dict[str, Any]:
    """The compared fields, normalised (price to two decimals) so both sides hash alike."""
    out = {name: row[name] for name in FIELDS}
    out["price"] = str(Decimal(str(row["price"])).quantize(Decimal("0.01")))
    return out


def checksum(row: dict[str, Any]) -> str:
    text = json.dumps(business_row(row), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def local_rows(*, after: str, upto: str | None) -> list[dict[str, Any]]:
    """Our products with `after < sku <= upto` (no upper bound when `upto` is None)."""
    query = Product.objects.select_related("category", "inventory").filter(sku__gt=after)
    if upto is not None:
        query = query.filter(sku__lte=upto)
    return [
        {
            "sku": p.sku,
            "name": p.name,
            "description": p.description,
            "category": p.category.slug,
            "price": p.price,
            "currency": p.currency,
            "is_active": p.is_active,
            "on_hand": p.inventory.on_hand if hasattr(p, "inventory") else 0,
            "reserved": p.inventory.reserved if hasattr(p, "inventory") else 0,
        }
        for p in query.order_by("sku")
    ]


@dataclass
class Drift:
    sku: str
    kind: str  # missing | extra | different
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name: (monolith, ours)
    source_row: dict[str, Any] | None = None


@dataclass
class ReconcileReport:
    monolith_count: int = 0
    local_count: int = 0
    batches: int = 0
    categories_missing: list[str] = field(default_factory=list)
    categories_different: list[str] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    repaired: int = 0
    categories: list[dict[str, Any]] = field(default_factory=list)  # the monolith's, for repair

    @property
    def clean(self) -> bool:
        return not (self.drift or self.categories_missing or self.categories_different)

    def count(self, kind: str) -> int:
        return sum(1 for d in self.drift if d.kind == kind)

    def summary(self, *, limit: int = 20) -> str:
        lines = [
            f"products: monolith {self.monolith_count}, catalog {self.local_count} "
            f"(compared in {self.batches} batches)",
            f"drift: {self.count('missing')} missing here, {self.count('extra')} extra here, "
            f"{self.count('different')} different; categories: "
            f"{len(self.categories_missing)} missing, {len(self.categories_different)} different",
        ]
        for item in self.drift[:limit]:
            if item.kind == "different":
                detail = ", ".join(f"{k}: {a!r} != {b!r}" for k, (a, b) in item.fields.items())
                lines.append(f"  different {item.sku}: {detail}")
            else:
                lines.append(f"  {item.kind} {item.sku}")
        if len(self.drift) > limit:
            lines.append(f"  ... and {len(self.drift) - limit} more")
        for slug in self.categories_missing:
            lines.append(f"  category missing here: {slug}")
        for slug in self.categories_different:
            lines.append(f"  category name differs: {slug}")
        if self.repaired:
            lines.append(f"repaired {self.repaired} rows in the catalog service")
        lines.append("no drift" if self.clean else "DRIFT")
        return "\n".join(lines)


def _compare_batch(report: ReconcileReport, theirs: list[dict], ours: list[dict]) -> None:
    mine = {row["sku"]: row for row in ours}
    for row in theirs:
        local = mine.pop(row["sku"], None)
        if local is None:
            report.drift.append(Drift(row["sku"], "missing", source_row=row))
        elif checksum(row) != checksum(local):
            a, b = business_row(row), business_row(local)
            diff = {k: (a[k], b[k]) for k in FIELDS if a[k] != b[k]}
            report.drift.append(Drift(row["sku"], "different", diff, source_row=row))
    for sku in sorted(mine):
        report.drift.append(Drift(sku, "extra"))


def catalog_reconcile(*, pages: Iterable[dict[str, Any]]) -> ReconcileReport:
    """Compare every export page with our rows in the same sku range (read only)."""
    report = ReconcileReport()
    after = ""
    categories_checked = False
    for page in pages:
        report.batches += 1
        if not categories_checked:
            ours = dict(Category.objects.values_list("slug", "name"))
            for row in page["categories"]:
                if row["slug"] not in ours:
                    report.categories_missing.append(row["slug"])
                elif ours[row["slug"]] != row["name"]:
                    report.categories_different.append(row["slug"])
            report.categories = page["categories"]
            categories_checked = True
        upto = page["next_after"]  # the page's last sku, or None on the last page
        theirs = page["products"]
        ours = local_rows(after=after, upto=upto)
        report.monolith_count += len(theirs)
        report.local_count += len(ours)
        _compare_batch(report, theirs, ours)
        if upto is None:
            break
        after = upto
    return report


@transaction.atomic
def catalog_repair_local(*, report: ReconcileReport) -> int:
    """Make our copy equal to the monolith's (call only when the monolith owns products)."""
    repaired = 0
    for row in report.categories:
        if row["slug"] in report.categories_missing + report.categories_different:
            services.category_apply_created(CategoryCreatedV1(slug=row["slug"], name=row["name"]))
            repaired += 1
    for item in report.drift:
        if item.kind in ("missing", "different") and item.source_row is not None:
            services.product_apply_created(_product_event(item.source_row))
        elif item.kind == "extra":
            Product.objects.filter(sku=item.sku).delete()
        repaired += 1
    return repaired


@transaction.atomic
def catalog_repair_remote(*, report: ReconcileReport) -> int:
    """We own products and the monolith's copy drifted: emit repair events from our outbox.

    The monolith's mirror consumer applies them like any other change, in sequence after
    everything we published before. Rows only the monolith has cannot be repaired by events
    (there is no delete event): they are reported, not touched. Returns the events emitted.
    """
    from contracts.catalog import ProductPriceChangedV1, ProductUpdatedV1
    from servicekit.events.outbox import outbox_enqueue

    emitted = 0
    mine = {
        p.sku: p
        for p in Product.objects.select_related("category", "inventory").filter(
            sku__in=[d.sku for d in report.drift if d.kind in ("extra", "different")]
        )
    }
    for item in report.drift:
        product = mine.get(item.sku)
        if product is None:
            continue
        if item.kind == "extra":
            outbox_enqueue(_product_event(_row(product)))
            emitted += 1
            continue
        outbox_enqueue(
            ProductUpdatedV1(
                sku=product.sku,
                name=product.name,
                description=product.description,
                category=product.category.slug,
                is_active=product.is_active,
            )
        )
        emitted += 1
        theirs = (item.source_row or {}).get("price")
        if theirs is not None and Decimal(str(theirs)) != product.price:
            outbox_enqueue(
                ProductPriceChangedV1(
                    sku=product.sku,
                    old_price=str(Decimal(str(theirs))),
                    new_price=str(product.price),
                    currency=product.currency,
                )
            )
            emitted += 1
    return emitted


def _row(product: Product) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "category": product.category.slug,
        "price": str(product.price),
        "currency": product.currency,
        "is_active": product.is_active,
        "on_hand": product.inventory.on_hand,
        "reserved": product.inventory.reserved,
    }
