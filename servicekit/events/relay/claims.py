"""Claiming outbox rows so that several relays never publish the same aggregate at once."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Exists, Min, OuterRef, Q

from servicekit.events import prepared
from servicekit.events.envelope import Envelope
from servicekit.events.outbox.models import OutboxMessage, OutboxStatus, envelope_of
from servicekit.web.backoff import backoff_delay

UNSENT = (OutboxStatus.PENDING, OutboxStatus.DEAD)
_TABLE = OutboxMessage._meta.db_table
_COLUMNS = (
    "id, event_id, event_type, aggregate_type, aggregate_id, sequence, occurred_at, origin, "
    "correlation_id, traceparent, tracestate, payload, attempts"
)
# PostgreSQL: one statement (autocommit: one round trip, no BEGIN/COMMIT) whose plan does not
# depend on fresh statistics (a backlog appears faster than autovacuum analyzes):
#   * candidates in id order from the partial pending index, locked with SKIP LOCKED, each
#     probing the partial unsent index for a blocking predecessor (a correlated subquery, not NOT
#     EXISTS: as an anti-join the planner may scan the whole index per candidate);
#   * per aggregate only the unbroken run of candidates from its first unsent sequence (one
#     index probe per candidate; sequence - first = the candidate's rank - 1, and after a hole
#     every later candidate's difference is larger);
#   * the lease, by primary key (`= ANY(ARRAY(...))`: an index scan whatever the estimates).
# All of it sees one snapshot; a row locked by another relay is skipped, so its successors (its
# sequence is still the aggregate's first unsent one) wait. `synchronous_commit` is off for this
# transaction only: losing a lease in a database crash just lets another relay re-publish.
_CLAIM_SQL = f"""
WITH candidates AS MATERIALIZED (
  SELECT o.id, o.aggregate_type, o.aggregate_id, o.sequence FROM {_TABLE} o
  WHERE o.status = 'pending' AND o.next_attempt_at <= %(now)s
    AND (o.claimed_until IS NULL OR o.claimed_until <= %(now)s)
    AND (
      SELECT 1 FROM {_TABLE} e
      WHERE e.aggregate_type = o.aggregate_type AND e.aggregate_id = o.aggregate_id
        AND e.sequence < o.sequence AND e.status IN ('pending', 'dead')
        AND (e.status = 'dead' OR e.next_attempt_at > %(now)s OR e.claimed_until > %(now)s)
      LIMIT 1) IS NULL
  ORDER BY o.id LIMIT %(limit)s
  FOR UPDATE OF o SKIP LOCKED
), heads AS MATERIALIZED (
  SELECT c.id FROM (
    SELECT c.id, c.sequence - (
      SELECT min(m.sequence) FROM {_TABLE} m
      WHERE m.aggregate_type = c.aggregate_type AND m.aggregate_id = c.aggregate_id
        AND m.status IN ('pending', 'dead')
    ) - (row_number() OVER (
      PARTITION BY c.aggregate_type, c.aggregate_id ORDER BY c.sequence) - 1) AS gap
    FROM candidates c
  ) c WHERE c.gap = 0
){{async_commit}}
UPDATE {_TABLE} o SET claimed_by = %(relay_id)s, claimed_until = %(until)s{{from_settings}}
WHERE o.id = ANY(ARRAY(SELECT id FROM heads)){{and_settings}}
RETURNING {", ".join("o." + c.strip() for c in _COLUMNS.split(","))}
"""  # noqa: S608
# Inside a caller's transaction the claim must not change how that transaction commits.
_CLAIM_IN_TRANSACTION_SQL = _CLAIM_SQL.format(async_commit="", from_settings="", and_settings="")
_CLAIM_SQL = _CLAIM_SQL.format(
    async_commit=(
        ", settings AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true) AS value)"
    ),
    from_settings=" FROM settings",
    and_settings=" AND settings.value = 'off'",
)
# The claim's plan must walk the pending index in id order and stop at the limit, whatever the
# statistics say: a backlog committed at once (a broker outage, a bulk import) is not in them
# until autovacuum analyzes, and on such estimates ("a few pending rows") the planner chose a
# bitmap scan of every pending row, each probed for predecessors, then a sort: a claim cost
# O(backlog), 220 ms a round at 50,000 rows (`make bench-events --phases`), against 15 ms walking
# the index. These settings are local to the claim's transaction and only plan-time: set before
# the (prepared) claim is planned, in the same pipeline. Not inside a caller's transaction,
# whose own statements they would steer.
_PLAN_BY_INDEX_SQL = (
    "SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true)"
)
# By primary key, through unnest: the generic plan of the prepared statement (which cannot see
# how many ids come) stays a loop of primary-key probes.
_MARK_SENT_SQL = (
    f"UPDATE {_TABLE} o SET status = 'sent', sent_at = %s, claimed_by = '', "  # noqa: S608
    "claimed_until = NULL, last_error = '' FROM unnest(%s::bigint[]) AS k(id){from_settings} "
    "WHERE o.id = k.id AND o.status = 'pending'{and_settings}"
)
# Outside a caller's transaction mark-sent commits asynchronously: a mark lost in a database
# crash only means the broker gets the (confirmed) events again, and the inboxes drop them.
_MARK_SENT_IN_TRANSACTION_SQL = _MARK_SENT_SQL.format(from_settings="", and_settings="")
_MARK_SENT_SQL = _MARK_SENT_SQL.format(
    from_settings=", (SELECT set_config('synchronous_commit', 'off', true)) AS s(value)",
    and_settings=" AND s.value = 'off'",
)


@dataclass(slots=True)
class ClaimedRow:
    """A leased outbox row as the relay needs it (cheaper than a model instance)."""

    id: int
    event_id: uuid.UUID
    event_type: str
    aggregate_type: str
    aggregate_id: str
    sequence: int
    occurred_at: datetime
    origin: str
    correlation_id: str
    traceparent: str
    tracestate: str
    payload: dict
    attempts: int

    @property
    def pk(self) -> int:
        return self.id

    def to_envelope(self) -> Envelope:
        return envelope_of(self)


def _claimable(now: datetime) -> Q:
    return Q(status=OutboxStatus.PENDING, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    )


def head_runs(
    candidates: Iterable[OutboxMessage], first_unsent: dict[tuple[str, str], int]
) -> list[OutboxMessage]:
    """Per aggregate, the unbroken run of candidates that starts at its first unsent sequence.

    Anything else (a candidate whose predecessor is dead, backing off, or claimed by another
    relay, or was skipped because it is locked) waits: publishing it now could overtake.
    """
    by_aggregate: dict[tuple[str, str], list[OutboxMessage]] = defaultdict(list)
    for row in candidates:
        by_aggregate[(row.aggregate_type, row.aggregate_id)].append(row)
    runs: list[OutboxMessage] = []
    for key, rows in by_aggregate.items():
        expected = first_unsent.get(key)
        for row in sorted(rows, key=lambda r: r.sequence):
            if row.sequence != expected:
                break
            runs.append(row)
            expected += 1
    runs.sort(key=lambda r: r.pk)
    return runs


def claim_batch(
    *, relay_id: str, limit: int, lease_seconds: float, now: datetime
) -> list[OutboxMessage] | list[ClaimedRow]:
    """Lease up to `limit` publishable rows to `relay_id`, in id order, in a short transaction.

    On PostgreSQL `FOR UPDATE SKIP LOCKED` keeps concurrent relays off each other's rows; the
    head check afterwards (with a fresh snapshot) drops rows whose aggregate has an earlier row
    still unsent. On SQLite the IMMEDIATE transaction makes claims one at a time.
    """
    if connection.vendor == "postgresql":
        return _claim_batch_postgresql(
            relay_id=relay_id, limit=limit, until=now + timedelta(seconds=lease_seconds), now=now
        )
    blocked_earlier = OutboxMessage.objects.filter(
        aggregate_type=OuterRef("aggregate_type"),
        aggregate_id=OuterRef("aggregate_id"),
        sequence__lt=OuterRef("sequence"),
    ).filter(
        Q(status=OutboxStatus.DEAD)
        | Q(status=OutboxStatus.PENDING, next_attempt_at__gt=now)
        | Q(status=OutboxStatus.PENDING, claimed_until__gt=now)
    )
    with transaction.atomic():
        rows = (
            OutboxMessage.objects.filter(_claimable(now))
            .filter(~Exists(blocked_earlier))
            .order_by("id")
        )
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        candidates = list(rows[:limit])
        if not candidates:
            return []
        keys = {(r.aggregate_type, r.aggregate_id) for r in candidates}
        first_unsent = {
            (row["aggregate_type"], row["aggregate_id"]): row["first"]
            for row in OutboxMessage.objects.filter(
                status__in=UNSENT,
                aggregate_type__in={k[0] for k in keys},
                aggregate_id__in={k[1] for k in keys},
            )
            .values("aggregate_type", "aggregate_id")
            .annotate(first=Min("sequence"))
        }
        claimed = head_runs(candidates, first_unsent)
        if claimed:
            OutboxMessage.objects.filter(pk__in=[r.pk for r in claimed]).update(
                claimed_by=relay_id, claimed_until=now + timedelta(seconds=lease_seconds)
            )
        return claimed


def _claim_batch_postgresql(
    *, relay_id: str, limit: int, until: datetime, now: datetime
) -> list[ClaimedRow]:
    params = {"now": now, "limit": limit, "relay_id": relay_id, "until": until}
    return _claimed_rows(prepared.execute_pipelined(_claim_statements(params))[-1][0])


def mark_sent(*, relay_id: str, pks: list[int], now: datetime) -> int:
    if not pks:
        return 0
    if connection.vendor == "postgresql":
        return prepared.execute(_mark_sent_sql(), [now, pks])[1]
    return OutboxMessage.objects.filter(pk__in=pks, status=OutboxStatus.PENDING).update(
        status=OutboxStatus.SENT, sent_at=now, claimed_by="", claimed_until=None, last_error=""
    )


def mark_sent_and_claim(
    *,
    relay_id: str,
    sent: list[int],
    sent_at: datetime,
    limit: int,
    lease_seconds: float,
    now: datetime,
) -> list[OutboxMessage] | list[ClaimedRow]:
    """`mark_sent(sent)`, then `claim_batch`: on PostgreSQL both in one round trip (pipelined, one
    transaction, so the claim sees the marks)."""
    if connection.vendor != "postgresql" or not sent:
        mark_sent(relay_id=relay_id, pks=sent, now=sent_at)
        return claim_batch(relay_id=relay_id, limit=limit, lease_seconds=lease_seconds, now=now)
    until = now + timedelta(seconds=lease_seconds)
    params = {"now": now, "limit": limit, "relay_id": relay_id, "until": until}
    results = prepared.execute_pipelined(
        [(_mark_sent_sql(), [sent_at, sent]), *_claim_statements(params)]
    )
    return _claimed_rows(results[-1][0])


def _mark_sent_sql() -> str:
    return _MARK_SENT_IN_TRANSACTION_SQL if connection.in_atomic_block else _MARK_SENT_SQL


def _claim_statements(params: dict) -> list[tuple[str, prepared.Params]]:
    if connection.in_atomic_block:
        return [(_CLAIM_IN_TRANSACTION_SQL, params)]
    return [(_PLAN_BY_INDEX_SQL, []), (_CLAIM_SQL, params)]


def _claimed_rows(rows: list[tuple]) -> list[ClaimedRow]:
    claimed = sorted((ClaimedRow(*row) for row in rows), key=lambda r: r.id)
    for row in claimed:
        if isinstance(row.payload, str | bytes):  # Django loads jsonb as text
            row.payload = json.loads(row.payload)
    return claimed


def release(*, relay_id: str, pks: list[int]) -> int:
    """Give rows back without blame (the broker, not the event, failed)."""
    if not pks:
        return 0
    return OutboxMessage.objects.filter(
        pk__in=pks, status=OutboxStatus.PENDING, claimed_by=relay_id
    ).update(claimed_by="", claimed_until=None)


def record_failure(
    *, row: OutboxMessage, error: str, now: datetime, max_attempts: int, base: float, cap: float
) -> OutboxStatus:
    """Count a failed publish: back off, or dead-letter the row after `max_attempts`."""
    attempts = row.attempts + 1
    if attempts >= max_attempts:
        status = OutboxStatus.DEAD
        next_attempt_at = now
    else:
        status = OutboxStatus.PENDING
        next_attempt_at = now + timedelta(seconds=backoff_delay(attempts, base=base, cap=cap))
    OutboxMessage.objects.filter(pk=row.pk, status=OutboxStatus.PENDING).update(
        status=status,
        attempts=attempts,
        next_attempt_at=next_attempt_at,
        last_error=error[:4000],
        claimed_by="",
        claimed_until=None,
    )
    return status
