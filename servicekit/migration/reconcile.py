"""Reconciliation: one entity's owner and its mirror, compared row by row through fingerprints.

The owner is the truth (servicekit.migration.ownership); the other side is its mirror. One side
is this service's database, read through an adapter; the other is the peer's staff export API
(servicekit.migration.export_client), read a page at a time. For each page the adapter fetches
our rows with the same keys, so memory stays one page plus the set of keys seen (the rows only
we have are found at the end). Only business fields are compared (no timestamps, no local ids).

Drift is always said from the mirror's side: `missing` (the owner has the row, the mirror not),
`extra` (only the mirror has it), `different` (field by field, owner's value first).

Repair never copies rows with SQL. When the mirror is here, each drifted row goes through the
adapter's `apply`, the idempotent function its event consumer calls, or `remove`. When the owner
is here, the adapter may `emit` repair events from our outbox, which the peer's mirror consumer
applies like any other change; an adapter that cannot leaves the drift reported, to be repaired
by running the reconciliation on the mirror's side.

Each run's outcome is kept in `<data dir>/reconcile/<service>/<name>.json`, so every process of
the service exports it on `/metrics` as `strangler_reconcile_drift{entity=...}` (`collect_drift`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from servicekit.migration.ownership import FROZEN, owner_of
from servicekit.web.files import atomic_write

KINDS = ("missing", "extra", "different")


class ReconcileAdapter:
    """One mirrored entity as this service holds it. Subclasses set the attributes and implement
    `local_rows`, `local_keys` and, for the mirror's side, `apply` and `remove`.

    Rows on both sides are shaped like the owner's export rows (dicts keyed by field name).
    """

    name: str  # the report's and the metric's label: "product", "inventory", ...
    entity: str  # the ownership entity it follows
    peer: str  # the other side: "monolith", or the extracted service
    export_path: str  # the peer's staff export API
    rows: str  # the key of the rows in an export page
    key_field: str = "id"
    fields: tuple[str, ...] = ()
    # this side's inbox consumer of the entity's stream and its aggregate type: a mirror's
    # repair skips an owner row older than what that consumer already applied
    consumer: str = ""
    aggregate_type: str = ""

    def key(self, row: dict[str, Any]) -> str:
        return str(row[self.key_field])

    def normalise(self, row: dict[str, Any]) -> dict[str, Any]:
        """The compared fields, in one canonical form on both sides."""
        return {name: row[name] for name in self.fields}

    def local_rows(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Our rows with these keys, export-shaped, by key."""
        raise NotImplementedError

    def local_keys(self) -> Iterable[str]:
        """Every key we hold."""
        raise NotImplementedError

    def apply(self, row: dict[str, Any]) -> None:
        """Make our copy of the owner's `row` equal to it (the consumer's idempotent path)."""
        raise NotImplementedError

    def remove(self, key: str) -> bool:
        """Drop a row our copy has and the owner does not; False leaves it (reported) for a
        person to decide, where other data may hang off it."""
        raise NotImplementedError

    def emit(self, drift: Drift) -> int:
        """We own the entity: emit events that repair the peer's copy; the number emitted.
        0 (the default) leaves the drift to a reconciliation on the mirror's side."""
        return 0

    def fingerprint(self, row: dict[str, Any]) -> str:
        text = json.dumps(self.normalise(row), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Drift:
    key: str
    kind: str  # missing | extra | different
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name: (owner, mirror)
    owner_row: dict[str, Any] | None = None
    mirror_row: dict[str, Any] | None = None


@dataclass
class ReconcileReport:
    name: str
    owner: str
    mirror: str
    owner_count: int = 0
    mirror_count: int = 0
    pages: int = 0
    drift: list[Drift] = field(default_factory=list)
    repaired: int = 0
    emitted: int = 0
    unrepaired: int = 0
    note: str = ""
    refused: bool = False  # not compared (a handover in progress): `note` says why

    @property
    def clean(self) -> bool:
        return not self.drift

    def count(self, kind: str) -> int:
        return sum(1 for d in self.drift if d.kind == kind)

    repair_ran: bool = False

    @property
    def remaining(self) -> int:
        """Drift still there after the run: all of it, or what a repair could not fix (0 when
        refused: nothing was compared)."""
        return self.unrepaired if self.repair_ran else len(self.drift)

    def summary(self, *, limit: int = 20) -> str:
        lines = [
            f"{self.name}: owner {self.owner} {self.owner_count}, mirror {self.mirror} "
            f"{self.mirror_count} (compared in {self.pages} pages)",
            f"drift: {self.count('missing')} missing in the mirror, {self.count('extra')} extra "
            f"in the mirror, {self.count('different')} different",
        ]
        for item in self.drift[:limit]:
            if item.kind == "different":
                detail = ", ".join(f"{k}: {a!r} != {b!r}" for k, (a, b) in item.fields.items())
                lines.append(f"  different {item.key}: {detail}")
            else:
                lines.append(f"  {item.kind} {item.key}")
        if len(self.drift) > limit:
            lines.append(f"  ... and {len(self.drift) - limit} more")
        if self.repaired:
            lines.append(f"repaired {self.repaired} rows in the mirror ({self.mirror})")
        if self.emitted:
            lines.append(f"emitted {self.emitted} repair events for the mirror ({self.mirror})")
        if self.note:
            lines.append(self.note)
        if self.refused:
            return f"{self.name}: not reconciled: {self.note}"
        lines.append("no drift" if self.clean else "DRIFT")
        return "\n".join(lines)


def _compare(
    adapter: ReconcileAdapter, report: ReconcileReport, owner_row: dict | None, mirror_row: dict
) -> None:
    """Append the drift between one key's two rows (either may be None)."""
    if owner_row is None:
        key = adapter.key(mirror_row)
        report.drift.append(Drift(key, "extra", mirror_row=mirror_row))
        return
    key = adapter.key(owner_row)
    if mirror_row is None:
        report.drift.append(Drift(key, "missing", owner_row=owner_row))
    elif adapter.fingerprint(owner_row) != adapter.fingerprint(mirror_row):
        a, b = adapter.normalise(owner_row), adapter.normalise(mirror_row)
        diff = {k: (a[k], b[k]) for k in a if a[k] != b.get(k)}
        report.drift.append(Drift(key, "different", diff, owner_row, mirror_row))


def reconcile(
    adapter: ReconcileAdapter, *, pages: Iterable[dict[str, Any]], owner_is_local: bool
) -> ReconcileReport:
    """Compare the peer's export `pages` with our rows (read only)."""
    here = getattr(settings, "SERVICE_NAME", "?")
    report = ReconcileReport(
        name=adapter.name,
        owner=here if owner_is_local else adapter.peer,
        mirror=adapter.peer if owner_is_local else here,
    )
    seen: set[str] = set()
    for page in pages:
        report.pages += 1
        # a key seen on an earlier page is not compared twice (every catalog page carries all
        # the categories)
        theirs = {key: row for row in page[adapter.rows] if (key := adapter.key(row)) not in seen}
        ours = adapter.local_rows(list(theirs)) if theirs else {}
        seen.update(theirs)
        for key, row in theirs.items():
            mine = ours.get(key)
            if owner_is_local:
                if mine is None:
                    report.drift.append(Drift(key, "extra", mirror_row=row))
                else:
                    _compare(adapter, report, mine, row)
            else:
                _compare(adapter, report, row, mine)
        report.owner_count += len(theirs) if not owner_is_local else len(ours)
        report.mirror_count += len(ours) if not owner_is_local else len(theirs)
    only_ours = sorted(key for key in adapter.local_keys() if key not in seen)
    for start in range(0, len(only_ours), 200):
        rows = adapter.local_rows(only_ours[start : start + 200])
        for key in only_ours[start : start + 200]:
            kind = "missing" if owner_is_local else "extra"
            row = rows.get(key)
            report.drift.append(
                Drift(
                    key,
                    kind,
                    owner_row=row if owner_is_local else None,
                    mirror_row=None if owner_is_local else row,
                )
            )
            if owner_is_local:
                report.owner_count += 1
            else:
                report.mirror_count += 1
    return report


def repair(adapter: ReconcileAdapter, report: ReconcileReport, *, owner_is_local: bool) -> None:
    """Repair the mirror: here through `apply`/`remove`, or from here (the owner) by `emit`."""
    report.repair_ran = True
    if owner_is_local:
        with transaction.atomic():
            for item in report.drift:
                emitted = adapter.emit(item)
                report.emitted += emitted
                report.unrepaired += int(emitted == 0)
        if report.unrepaired:
            report.note = (
                f"{report.unrepaired} rows cannot be repaired from the owner ({report.owner}): "
                f"run the reconciliation with --repair on the mirror ({report.mirror})"
            )
        return
    failed: list[str] = []
    for item in report.drift:
        try:
            with transaction.atomic():
                if _stream_is_past(adapter, item):
                    raise StreamIsPast("the live stream applied a newer change: rerun")
                if item.kind == "extra":
                    done = adapter.remove(item.key) is not False
                else:
                    assert item.owner_row is not None
                    adapter.apply(item.owner_row)
                    done = True
        except Exception as exc:  # one row that cannot be applied must not stop the others
            failed.append(f"{item.key}: {type(exc).__name__}: {exc}")
            done = False
        report.repaired += int(done)
        report.unrepaired += int(not done)
    if report.unrepaired:
        report.note = "\n".join(
            [f"{report.unrepaired} rows not repaired (only the mirror has them, or failed):"]
            + [f"  failed {line}" for line in failed[:20]]
        )


class StreamIsPast(RuntimeError):
    """The mirror's consumer applied a change newer than the export row read for the repair."""


def _stream_is_past(adapter: ReconcileAdapter, item: Drift) -> bool:
    """Lock the aggregate's inbox cursor (inside the repair's transaction) and say whether it
    is past the owner row's sequence: then the row is stale, not the mirror."""
    sequence = (item.owner_row or {}).get("sequence")
    if not (adapter.consumer and sequence):
        return False
    from servicekit.events.inbox.models import InboxCursor

    cursor = (
        InboxCursor.objects.select_for_update()
        .filter(
            consumer=adapter.consumer,
            aggregate_type=adapter.aggregate_type,
            aggregate_id=item.key,
        )
        .values_list("last_sequence", flat=True)
        .first()
    )
    return cursor is not None and cursor > sequence


# --- choosing the adapters and the direction -------------------------------------------------


class ReconcileRefused(RuntimeError):
    """No reconciliation now (a handover is in progress, or this service holds no side)."""


def adapters(names: Iterable[str] | None = None) -> list[ReconcileAdapter]:
    """This service's adapters (the `RECONCILE_ADAPTERS` setting), or the ones named."""
    found = [import_string(path)() for path in getattr(settings, "RECONCILE_ADAPTERS", [])]
    if names:
        wanted = set(names)
        unknown = wanted - {a.name for a in found}
        if unknown:
            raise ReconcileRefused(
                f"no reconciliation for {sorted(unknown)} here; known: {[a.name for a in found]}"
            )
        found = [a for a in found if a.name in wanted]
    return found


def direction(adapter: ReconcileAdapter) -> bool:
    """True when this service owns the adapter's entity, False when the peer does."""
    owner = owner_of(adapter.entity)
    here = settings.SERVICE_NAME
    if owner == FROZEN:
        raise ReconcileRefused(f"{adapter.entity} is being handed over: no reconciliation now")
    if owner == here:
        return True
    if owner == adapter.peer:
        return False
    raise ReconcileRefused(
        f"{adapter.entity} is owned by {owner}: neither {here} nor {adapter.peer} is its owner"
    )


# --- the outcome, kept for /metrics ----------------------------------------------------------


def _outcome_dir() -> Path:

    return Path(settings.DATA_DIR) / "reconcile"


def outcome_record(report: ReconcileReport) -> None:
    """Keep the run's outcome where every process of this service reads it at scrape time."""
    body = {
        "entity": report.name,
        "owner": report.owner,
        "mirror": report.mirror,
        "drift": report.remaining,
        "found": {kind: report.count(kind) for kind in KINDS},
        "repaired": report.repaired,
        "emitted": report.emitted,
        "at": time.time(),
    }
    folder = _outcome_dir()
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / f"{report.name}.json", json.dumps(body, sort_keys=True))


def outcomes() -> list[dict[str, Any]]:
    folder = _outcome_dir()
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return out


def collect_drift():
    """`SERVICEKIT_METRICS_COLLECTORS` entry: the last run's drift and time, per entity."""
    from prometheus_client.core import GaugeMetricFamily

    drift = GaugeMetricFamily(
        "strangler_reconcile_drift",
        "Rows that differ between an entity's owner and its mirror after the last reconciliation "
        "(0: none, or every one repaired).",
        labels=["entity", "owner", "mirror"],
    )
    last = GaugeMetricFamily(
        "strangler_reconcile_last_run_timestamp_seconds",
        "When the last reconciliation of the entity ran here (Unix time).",
        labels=["entity"],
    )
    for row in outcomes():
        drift.add_metric([row["entity"], row["owner"], row["mirror"]], row["drift"])
        last.add_metric([row["entity"]], row["at"])
    yield drift
    yield last
