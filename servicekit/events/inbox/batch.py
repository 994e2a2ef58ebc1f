"""What one inbox transaction knows and writes: applied ids, cursors, aggregates with parked
events; one query and one statement on PostgreSQL (prepared), the ORM elsewhere."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from servicekit.events import prepared
from servicekit.events.envelope import Envelope
from servicekit.events.inbox.models import InboxCursor, InboxMessage, InboxParked

Key = tuple[str, str]

_MESSAGE = InboxMessage._meta.db_table
_CURSOR = InboxCursor._meta.db_table
_PARKED = InboxParked._meta.db_table
# PostgreSQL, one statement: the cursors of the batch's aggregates, locked until commit (in key
# order, so that two workers never lock in opposite orders); the batch's applied ids; its parked
# ids; its aggregates with parked events. Every part probes a unique or leading-column index once
# per id or key (LATERAL ... FOR UPDATE and correlated subqueries are never turned into joins),
# so the plan cannot degrade into scanning all of a consumer's rows when statistics are stale.
_LOAD_SQL = f"""
WITH cursors AS MATERIALIZED (
  SELECT c.id, c.aggregate_type, c.aggregate_id, c.last_sequence
  FROM unnest(%(types)s::text[], %(ids)s::text[]) WITH ORDINALITY AS k(t, i, n)
  CROSS JOIN LATERAL (
    SELECT c.id, c.aggregate_type, c.aggregate_id, c.last_sequence FROM {_CURSOR} c
    WHERE c.consumer = %(consumer)s AND c.aggregate_type = k.t AND c.aggregate_id = k.i
    FOR UPDATE
  ) c
  ORDER BY k.n
)
SELECT 'c', c.id, NULL::uuid, c.aggregate_type, c.aggregate_id, c.last_sequence FROM cursors c
UNION ALL
SELECT 'd', 0, e.id, '', '', 0 FROM unnest(%(events)s::uuid[]) AS e(id)
WHERE (SELECT 1 FROM {_MESSAGE} m WHERE m.consumer = %(consumer)s AND m.event_id = e.id) = 1
UNION ALL
SELECT 'p', 0, e.id, '', '', 0 FROM unnest(%(events)s::uuid[]) AS e(id)
WHERE (SELECT 1 FROM {_PARKED} p WHERE p.consumer = %(consumer)s AND p.event_id = e.id) = 1
UNION ALL
SELECT 'k', 0, NULL::uuid, k.t, k.i, 0 FROM unnest(%(types)s::text[], %(ids)s::text[]) AS k(t, i)
WHERE (
  SELECT 1 FROM {_PARKED} p
  WHERE p.consumer = %(consumer)s AND p.aggregate_type = k.t AND p.aggregate_id = k.i LIMIT 1
) = 1
"""  # noqa: S608
# ... and one statement for the applied records, the new cursors and the moved ones (by id),
# whose result nobody reads: in the worker's pipelined batch it goes out with the handlers'
# statements in the round trip that ends the pipeline.
_SAVE_SQL = (
    f"WITH applied AS (INSERT INTO {_MESSAGE} "  # noqa: S608
    "(consumer, event_id, event_type, aggregate_type, aggregate_id, sequence, applied_at) "
    "SELECT %s, * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::bigint[], "
    "%s::timestamptz[])), "
    f"created AS (INSERT INTO {_CURSOR} (consumer, aggregate_type, aggregate_id, last_sequence) "
    "SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::bigint[])) "
    f"UPDATE {_CURSOR} c SET last_sequence = v.s "
    "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, s) WHERE c.id = v.id"
)


class InboxBatch:
    """What one transaction knows: applied ids, cursors, aggregates with parked events.

    Loads with one query and saves with one statement on PostgreSQL (arrays, unnest); the ORM
    elsewhere. Cursors of the batch's aggregates are locked (FOR UPDATE) until commit. A batch
    is saved once, as its transaction's last write.
    """

    def __init__(self, consumer: str, envelopes: Sequence[Envelope]):
        self.consumer = consumer
        self.last_sequence: dict[Key, int] = {}
        self.existing: set[Key] = set()  # cursors that are rows already
        self.cursor_ids: dict[Key, int] = {}  # their primary keys (PostgreSQL)
        self.dirty: set[Key] = set()
        self.records: list[tuple[Envelope, datetime]] = []
        self.done: set[uuid.UUID] = set()
        self.parked_ids: set[uuid.UUID] = set()
        self.parked_keys: set[Key] = set()
        self.saved = False
        if not envelopes:
            return
        ids = [e.event_id for e in envelopes]
        keys = {e.aggregate_key for e in envelopes}
        if connection.vendor == "postgresql":
            self._load_postgresql(ids, keys)
        else:
            self._load_orm(ids, keys)

    def _load_postgresql(self, ids: list[uuid.UUID], keys: set[Key]) -> None:
        ordered = sorted(keys)
        params = {
            "consumer": self.consumer,
            "types": [k[0] for k in ordered],
            "ids": [k[1] for k in ordered],
            "events": ids,
        }
        rows, _ = prepared.execute(_LOAD_SQL, params)
        for kind, pk, event_id, aggregate_type, aggregate_id, last_sequence in rows:
            if kind == "c":
                key = (aggregate_type, aggregate_id)
                self.last_sequence[key] = last_sequence
                self.existing.add(key)
                self.cursor_ids[key] = pk
            elif kind == "d":
                self.done.add(event_id)
            elif kind == "p":
                self.parked_ids.add(event_id)
            else:
                self.parked_keys.add((aggregate_type, aggregate_id))

    def _load_orm(self, ids: list[uuid.UUID], keys: set[Key]) -> None:
        types, agg_ids = {k[0] for k in keys}, {k[1] for k in keys}
        self.done = set(
            InboxMessage.objects.filter(consumer=self.consumer, event_id__in=ids).values_list(
                "event_id", flat=True
            )
        )
        self.parked_ids = set(
            InboxParked.objects.filter(consumer=self.consumer, event_id__in=ids).values_list(
                "event_id", flat=True
            )
        )
        for cursor in InboxCursor.objects.select_for_update().filter(
            consumer=self.consumer, aggregate_type__in=types, aggregate_id__in=agg_ids
        ):
            key = (cursor.aggregate_type, cursor.aggregate_id)
            if key in keys:
                self.use_cursor(cursor)
        self.parked_keys = {
            key
            for key in InboxParked.objects.filter(
                consumer=self.consumer, aggregate_type__in=types, aggregate_id__in=agg_ids
            ).values_list("aggregate_type", "aggregate_id")
            if key in keys
        }

    def use_cursor(self, cursor: InboxCursor) -> None:
        key = (cursor.aggregate_type, cursor.aggregate_id)
        self.last_sequence[key] = cursor.last_sequence
        self.existing.add(key)
        self.cursor_ids[key] = cursor.pk

    def last(self, key: Key) -> int:
        return self.last_sequence.get(key, 0)

    def advance(self, envelope: Envelope, applied_at: datetime) -> None:
        key = envelope.aggregate_key
        self.last_sequence[key] = envelope.sequence
        self.dirty.add(key)
        self.done.add(envelope.event_id)
        self.records.append((envelope, applied_at))

    def save(self) -> None:
        if self.saved:
            raise RuntimeError("an inbox batch is saved once, as its transaction's last write")
        self.saved = True
        if not self.records and not self.dirty:
            return
        new = [k for k in self.dirty if k not in self.existing]
        changed = [k for k in self.dirty if k in self.existing]
        if connection.vendor == "postgresql":
            envelopes = [e for e, _ in self.records]
            prepared.send(
                _SAVE_SQL,
                [
                    self.consumer,
                    [e.event_id for e in envelopes],
                    [e.event_type for e in envelopes],
                    [e.aggregate_type for e in envelopes],
                    [e.aggregate_id for e in envelopes],
                    [e.sequence for e in envelopes],
                    [applied_at for _, applied_at in self.records],
                    self.consumer,
                    [k[0] for k in new],
                    [k[1] for k in new],
                    [self.last_sequence[k] for k in new],
                    [self.cursor_ids[k] for k in changed],
                    [self.last_sequence[k] for k in changed],
                ],
            )
        else:
            InboxMessage.objects.bulk_create(
                InboxMessage(
                    consumer=self.consumer,
                    event_id=e.event_id,
                    event_type=e.event_type,
                    aggregate_type=e.aggregate_type,
                    aggregate_id=e.aggregate_id,
                    sequence=e.sequence,
                    applied_at=applied_at,
                )
                for e, applied_at in self.records
            )
            InboxCursor.objects.bulk_create(
                InboxCursor(
                    consumer=self.consumer,
                    aggregate_type=k[0],
                    aggregate_id=k[1],
                    last_sequence=self.last_sequence[k],
                )
                for k in new
            )
            for key in changed:
                InboxCursor.objects.filter(
                    consumer=self.consumer, aggregate_type=key[0], aggregate_id=key[1]
                ).update(last_sequence=self.last_sequence[key])
