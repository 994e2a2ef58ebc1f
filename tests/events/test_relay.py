"""The relay with a stub broker: order per aggregate, retries, dead letters, replay, cleanup."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction

from contracts.catalog import ProductPriceChangedV1
from servicekit.events.broker.stub import StubPublisher
from servicekit.events.envelope import now_utc
from servicekit.events.metrics import OUTBOX_PUBLISHED
from servicekit.events.outbox import OutboxMessage, outbox_enqueue
from servicekit.events.outbox.models import OutboxStatus
from servicekit.events.outbox.services import outbox_cleanup
from servicekit.events.relay import claims
from servicekit.events.relay.claims import claim_batch, head_runs
from servicekit.events.relay.relay import Relay, RelayConfig, Waker
from servicekit.web.backoff import backoff_delay
from tests.events import support

pytestmark = pytest.mark.django_db(transaction=True)


def enqueue(sku: str, n: int = 1) -> list[OutboxMessage]:
    messages = []
    for i in range(n):
        with transaction.atomic():
            messages.append(
                outbox_enqueue(
                    ProductPriceChangedV1(
                        sku=sku, old_price="1.00", new_price=f"{i}.00", currency="EUR"
                    )
                )
            )
    return messages


def drain(relay: Relay, rounds: int = 50) -> None:
    for _ in range(rounds):
        if relay.run_once() == 0:
            return


def test_relay_publishes_every_row_once_in_aggregate_order():
    for sku in ("A", "B", "C"):
        enqueue(sku, 5)
    stub = StubPublisher()

    drain(Relay(publisher=stub, config=RelayConfig(batch_size=4)))

    assert len(stub.published) == 15
    assert len({e.event_id for e in stub.published}) == 15
    for sku in ("A", "B", "C"):
        assert [e.sequence for e in stub.published if e.aggregate_id == sku] == [1, 2, 3, 4, 5]
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}


@pytest.mark.parametrize("level", [logging.INFO, logging.WARNING])
def test_one_published_line_per_event_at_info_only(level, monkeypatch):
    # The relay builds its per-event lines only when `servicekit.relay` keeps INFO.
    rows = enqueue("A", 3)
    with support.info_lines(
        monkeypatch, "servicekit.events.relay.relay", "servicekit.relay", level
    ) as lines:
        drain(Relay(publisher=StubPublisher(), config=RelayConfig(batch_size=5)))
    published = [kw["event_id"] for event, kw in lines if event == "outbox.published"]
    assert published == ([str(r.event_id) for r in rows] if level == logging.INFO else [])


def test_published_events_are_counted_per_event_type():
    # given: seven rows, the last of them failing to publish
    rows = enqueue("A", 7)
    before = OUTBOX_PUBLISHED.labels(ProductPriceChangedV1.event_type)._value.get()
    stub = StubPublisher(fail_event_ids={rows[-1].event_id})

    # when: published in batches of three
    drain(Relay(publisher=stub, config=RelayConfig(batch_size=3)), rounds=3)

    # then: the counter grew by the confirmed ones
    after = OUTBOX_PUBLISHED.labels(ProductPriceChangedV1.event_type)._value.get()
    assert after - before == 6


def test_poison_event_is_dead_lettered_without_blocking_other_aggregates():
    poison = enqueue("A", 3)[0]
    enqueue("B", 3)
    stub = StubPublisher(fail_event_ids={poison.event_id})
    relay = Relay(publisher=stub, config=RelayConfig(max_attempts=3, backoff_base=0))

    drain(relay)
    for _ in range(5):  # retries are due at once (no backoff base): exhaust them
        OutboxMessage.objects.filter(status=OutboxStatus.PENDING).update(next_attempt_at=now_utc())
        drain(relay)

    dead = OutboxMessage.objects.get(status=OutboxStatus.DEAD)
    assert dead.event_id == poison.event_id and dead.attempts == 3 and dead.last_error
    assert [e.aggregate_id for e in stub.published] == ["B", "B", "B"]  # A's later rows wait
    assert OutboxMessage.objects.filter(aggregate_id="A", status=OutboxStatus.PENDING).count() == 2

    # when: the cause is fixed and the dead letter replayed through the command
    stub.fail_event_ids.clear()
    call_command("outbox_dead_letters", "list")
    call_command("outbox_dead_letters", "replay", str(poison.event_id))
    drain(relay)

    assert [e.sequence for e in stub.published if e.aggregate_id == "A"] == [1, 2, 3]
    assert not OutboxMessage.objects.exclude(status=OutboxStatus.SENT).exists()


def test_broker_outage_releases_claims_without_counting_attempts():
    enqueue("A", 2)
    stub = StubPublisher(down=True)
    relay = Relay(publisher=stub, config=RelayConfig(reconnect_max=0.01))
    relay.run_once()
    assert not OutboxMessage.objects.exclude(attempts=0).exists()
    assert not OutboxMessage.objects.exclude(claimed_by="").exists()
    stub.down = False
    drain(relay)
    assert [e.sequence for e in stub.published] == [1, 2]


def test_a_live_claim_keeps_other_relays_off_the_aggregate():
    enqueue("A", 3)
    enqueue("B", 1)
    now = now_utc()
    with transaction.atomic():
        first = claim_batch(relay_id="r1", limit=1, lease_seconds=30, now=now)
    with transaction.atomic():
        second = claim_batch(relay_id="r2", limit=10, lease_seconds=30, now=now)
    assert [(r.aggregate_id, r.sequence) for r in first] == [("A", 1)]
    assert [(r.aggregate_id, r.sequence) for r in second] == [("B", 1)]
    # expired leases (their relays died) are claimable again, from the head
    later = now + timedelta(seconds=31)
    third = claim_batch(relay_id="r3", limit=10, lease_seconds=30, now=later)
    assert [(r.aggregate_id, r.sequence) for r in third] == [("A", 1), ("A", 2), ("A", 3), ("B", 1)]


def test_head_runs_stop_at_the_first_hole():
    rows = [
        OutboxMessage(pk=i, aggregate_type="p", aggregate_id="A", sequence=s)
        for i, s in ((1, 2), (2, 3), (3, 5))
    ]
    assert [r.sequence for r in head_runs(rows, {("p", "A"): 2})] == [2, 3]
    assert head_runs(rows, {("p", "A"): 1}) == []


def test_backoff_grows_exponentially_with_full_jitter():
    delays = [backoff_delay(5, base=1.0, cap=100.0) for _ in range(200)]
    assert all(0 <= d <= 16.0 for d in delays) and max(delays) > 8.0
    assert all(backoff_delay(30, base=1.0, cap=5.0) <= 5.0 for _ in range(50))


def test_cleanup_deletes_only_sent_rows_past_retention():
    old_sent, new_sent, pending, dead = (enqueue(s)[0] for s in "ABCD")
    long_ago = now_utc() - timedelta(days=30)
    OutboxMessage.objects.filter(pk=old_sent.pk).update(status=OutboxStatus.SENT, sent_at=long_ago)
    OutboxMessage.objects.filter(pk=new_sent.pk).update(status=OutboxStatus.SENT, sent_at=now_utc())
    OutboxMessage.objects.filter(pk=dead.pk).update(status=OutboxStatus.DEAD)
    OutboxMessage.objects.filter(pk__in=[pending.pk, dead.pk]).update(occurred_at=long_ago)

    assert outbox_cleanup(retention_seconds=7 * 24 * 3600) == 1
    assert set(OutboxMessage.objects.values_list("pk", flat=True)) == {
        new_sent.pk,
        pending.pk,
        dead.pk,
    }
    # the sequence counter survives the cleanup: numbering never restarts
    assert enqueue("A")[0].sequence == 2


def test_outbox_metrics_report_pending_age_and_dead_letters():
    from servicekit.events.inbox.metrics import collect_inbox
    from servicekit.events.outbox.metrics import collect_outbox

    first, _second = enqueue("A", 2)
    OutboxMessage.objects.filter(pk=first.pk).update(
        status=OutboxStatus.DEAD, occurred_at=now_utc() - timedelta(minutes=5)
    )
    OutboxMessage.objects.exclude(pk=first.pk).update(occurred_at=now_utc() - timedelta(minutes=1))
    values = {m.name: m.samples[0].value for m in collect_outbox()}
    assert values["outbox_pending_messages"] == 1
    assert values["outbox_dead_letters"] == 1
    assert 55 < values["outbox_oldest_pending_age_seconds"] < 600
    assert list(collect_inbox())  # the family is always there, empty or not


def test_a_dead_aggregate_with_a_long_tail_does_not_starve_the_others():
    # More blocked rows than a claim takes: the claim must skip them, not fill up with them.
    dead, *_tail = enqueue("A", 6)
    OutboxMessage.objects.filter(pk=dead.pk).update(status=OutboxStatus.DEAD)
    enqueue("B", 2)
    claimed = claim_batch(relay_id="r1", limit=3, lease_seconds=30, now=now_utc())
    assert [(r.aggregate_id, r.sequence) for r in claimed] == [("B", 1), ("B", 2)]
    assert {r.event_type for r in claimed} == {ProductPriceChangedV1.event_type}
    assert claimed[0].to_envelope().payload["new_price"] == "0.00"


def test_a_paused_relay_settles_what_it_has_in_flight_then_claims_nothing_until_resumed():
    # given: a relay with a batch published and not yet confirmed, and a change made after it
    enqueue("A", 2)
    stub = StubPublisher()
    relay = Relay(publisher=stub, config=RelayConfig(batch_size=10))
    relay.run_once()
    enqueue("B", 1)
    paused = threading.Event()
    paused.set()
    rounds = iter(range(4))

    # when: it runs paused for a few rounds (SIGUSR1 under `manage.py outbox_relay`)
    relay.run(waker=Waker(), paused=paused, until=lambda: next(rounds, None) is None)

    # then: what it had in flight is settled, and the later change waits in the outbox
    statuses = dict(OutboxMessage.objects.values_list("aggregate_id", "status"))
    assert statuses == {"A": OutboxStatus.SENT, "B": OutboxStatus.PENDING}
    assert {e.aggregate_id for e in stub.published} == {"A"}

    # and resumed (SIGUSR2), a relay publishes what waited
    paused.clear()
    Relay(publisher=stub, config=RelayConfig(batch_size=10)).run(
        waker=Waker(),
        paused=paused,
        until=lambda: not OutboxMessage.objects.filter(status=OutboxStatus.PENDING).exists(),
    )
    assert [e.aggregate_id for e in stub.published].count("B") == 1


def test_a_lone_event_is_claimed_sent_and_marked_then_the_relay_waits(monkeypatch):
    # given: one event in the outbox, and a relay whose claims are counted (on PostgreSQL each
    # is a round trip: a mark goes with the next claim, pipelined)
    enqueue("A")
    calls: list[str] = []
    inside: list[str] = []  # (elsewhere than PostgreSQL, mark_sent_and_claim calls claim_batch)
    for name in ("claim_batch", "mark_sent_and_claim"):
        original = getattr(claims, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            if not inside:
                calls.append(_name)
            inside.append(_name)
            try:
                return _original(*args, **kwargs)
            finally:
                inside.pop()

        monkeypatch.setattr(claims, name, counted)
    waits: list[float] = []

    class Recording(Waker):
        def wait(self, timeout: float) -> None:
            waits.append(timeout)

    # when: it runs until it waits for a wake-up (NOTIFY, or its idle interval) with nothing to do
    relay = Relay(publisher=StubPublisher(), config=RelayConfig(batch_size=10))
    relay.run(waker=Recording(), until=lambda: bool(waits) and waits[-1] > 0)

    # then: the event is sent and marked with three claims: its own, one while its confirms
    # travel, and the one its mark goes with; a round that only marked does not claim again
    # (new rows NOTIFY the waker)
    assert OutboxMessage.objects.get().status == OutboxStatus.SENT
    assert calls == ["claim_batch", "claim_batch", "mark_sent_and_claim"]
    assert waits == [0, 0, RelayConfig().idle_interval]


def test_a_claim_walks_the_pending_index_however_stale_the_statistics(postgres_only, monkeypatch):
    # A backlog committed at once is not in the statistics until autovacuum analyzes: on such
    # estimates ("nothing pending") the planner scanned every pending row and probed each for a
    # blocked predecessor before sorting and taking the limit, so each claim cost O(backlog).
    import json

    from django.db import connection

    from servicekit.events import prepared

    table = OutboxMessage._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        cursor.execute(f"ANALYZE {table}")  # the statistics: an empty table
    try:
        with connection.cursor() as cursor:  # then a backlog of 10,000 aggregates, at once
            cursor.execute(
                f"INSERT INTO {table} (event_id, event_type, aggregate_type, aggregate_id, "
                "sequence, occurred_at, origin, correlation_id, traceparent, tracestate, payload, "
                "status, attempts, next_attempt_at, claimed_by, last_error) "
                "SELECT gen_random_uuid(), 'catalog.product.price_changed.v1', 'product', "
                "'S' || g, 1, now(), 'catalog', '', '', '', '{}', 'pending', 0, now(), '', '' "
                "FROM generate_series(1, 10000) g"
            )
        plans = []
        execute_pipelined = prepared.execute_pipelined

        def explained(statements, using="default"):
            *before, (sql, params) = statements
            results = execute_pipelined(
                [*before, ("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)], using=using
            )
            plan = results[-1][0][0][0]
            plans.append(json.loads(plan) if isinstance(plan, str) else plan)
            return [*results[:-1], ([], 0)]

        monkeypatch.setattr(prepared, "execute_pipelined", explained)
        claim_batch(relay_id="r1", limit=50, lease_seconds=30, now=now_utc())
        with connection.cursor() as cursor:  # the settings ended with the claim's transaction
            cursor.execute(
                "SELECT current_setting('enable_bitmapscan'), current_setting('enable_seqscan')"
            )
            assert cursor.fetchone() == ("on", "on")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} RESET (autovacuum_enabled)")

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    probes = [n for n in nodes(plans[0][0]["Plan"]) if n.get("Alias") == "e"]
    assert probes, "the predecessor probe is in the plan"
    # one probe per candidate up to the limit, not one per pending row
    assert max(n["Actual Loops"] for n in probes) <= 50, json.dumps(plans[0], indent=1)
