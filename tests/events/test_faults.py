"""Fault injection: crashes at named points, SIGKILL, racing relays, broker restart, poison,
duplicates and reordering. Each ends with the business invariant: after quiescence the consumer's
copy equals the source, every event was applied once, in sequence order per aggregate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter

import pytest
from django.db import transaction

from servicekit.events import faults
from servicekit.events.inbox.models import InboxParked, ParkedReason
from servicekit.events.outbox.models import OutboxMessage, OutboxStatus
from tests.events import support
from tests.support.wait import port_open, wait_for, wait_port

pytestmark = pytest.mark.integration

SKUS = [f"F{i}" for i in range(12)]
STEPS = 6


def produce_backlog(steps: range, *, poison_sku: str | None = None) -> None:
    for step in steps:
        for sku in SKUS:
            support.produce(sku, step, poison=sku == poison_sku)


def quiesce(procs: support.Processes, *, exclude: set[str] = frozenset(), crash_file=None) -> None:
    """Wait until the copy equals the source and the outbox is sent; with `crash_file`, also
    until the injected crash happened and its process was restarted (a consumer that crashes
    after committing the last batch leaves a complete copy behind before it has even died)."""

    def settled() -> bool:
        procs.keep_alive()
        if crash_file is not None and not (crash_file.exists() and procs.restarts >= 1):
            return False
        return (
            support.copy_state(exclude) == support.source_state(exclude)
            and not OutboxMessage.objects.exclude(status=OutboxStatus.SENT).exists()
        )

    wait_for(settled, timeout=180, what="the copy to equal the source")


def check_invariants(*, exclude: set[str] = frozenset()) -> None:
    expected = len([sku for sku in SKUS if sku not in exclude])
    assert len(support.source_state(exclude)) == expected
    applied = support.assert_exactly_once_in_order(exclude)
    assert applied == expected * STEPS


def scenario(
    events,
    tmp_path,
    *,
    consumer_env=None,
    relay_env=None,
    relays=1,
    role="relay",
    during=None,
    extra_env=None,
):
    produce_backlog(range(STEPS // 2))
    once = {"SERVICEKIT_CRASH_ONCE_FILE": str(tmp_path / "crashed")}
    with support.processes(events, extra_env) as procs:
        consumer = procs.start("consume", **({**once, **consumer_env} if consumer_env else {}))
        started = [
            procs.start(role, **({**once, **relay_env} if relay_env else {})) for _ in range(relays)
        ]
        produced_rest = during(procs, consumer, started) if during else False
        if not produced_rest:
            produce_backlog(range(STEPS // 2, STEPS))  # changes keep coming after the fault
        crashes = any("SERVICEKIT_CRASH_AT" in (e or {}) for e in (consumer_env, relay_env))
        quiesce(procs, crash_file=tmp_path / "crashed" if crashes else None)
    check_invariants()
    return procs


@pytest.mark.parametrize(
    "point",
    [faults.RELAY_AFTER_CLAIM, faults.RELAY_AFTER_PUBLISH],
    ids=["before-publish", "before-mark-sent"],
)
def test_relay_crash_points(events_settings, tables, tmp_path, point):
    procs = scenario(events_settings, tmp_path, relay_env={"SERVICEKIT_CRASH_AT": point})
    assert (tmp_path / "crashed").exists() and procs.restarts >= 1  # the fault did happen


@pytest.mark.parametrize(
    "point",
    [faults.INBOX_BEFORE_COMMIT, faults.INBOX_AFTER_COMMIT],
    ids=["before-commit", "after-commit"],
)
def test_consumer_crash_points(events_settings, tables, tmp_path, rabbitmq_only, point):
    # (kombu's filesystem transport has no acknowledgements: a consumer crash loses its
    # in-flight messages there, so these run against RabbitMQ only)
    procs = scenario(events_settings, tmp_path, consumer_env={"SERVICEKIT_CRASH_AT": point})
    assert (tmp_path / "crashed").exists() and procs.restarts >= 1


def test_relay_killed_with_sigkill_mid_stream(events_settings, tables, tmp_path):
    def kill_relay(procs, _consumer, relays):
        wait_for(
            lambda: OutboxMessage.objects.filter(status=OutboxStatus.SENT).exists(),
            timeout=120,
            what="the relay to start publishing",
        )
        os.kill(relays[0].pid, signal.SIGKILL)
        relays[0].wait()
        procs.keep_alive()

    procs = scenario(events_settings, tmp_path, during=kill_relay)
    assert procs.restarts >= 1


def _json_lines(path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_two_relays_racing(events_settings, tables, tmp_path, postgres_only):
    # small batches, so that one relay cannot take a whole backlog in one claim
    events_settings["RELAY_BATCH_SIZE"] = 4
    published = tmp_path / "published.jsonl"

    def backlog_once_both_listen(_procs, _consumer, _relays):
        wait_for(
            lambda: len({line["relay"] for line in _json_lines(published)}) == 2,
            timeout=60,
            what="both relays to start",
        )
        time.sleep(0.5)  # from building the publisher to listening
        with transaction.atomic():  # one commit: both relays wake to the same backlog
            produce_backlog(range(STEPS // 2, STEPS))
        return True

    procs = scenario(
        events_settings,
        tmp_path,
        relays=2,
        during=backlog_once_both_listen,
        extra_env={"SK_PUBLISHED_LOG": str(published)},
    )

    assert procs.restarts == 0
    by_relay = Counter()
    for line in _json_lines(published):
        by_relay[line["relay"]] += line["confirmed"]
    assert sum(by_relay.values()) >= len(SKUS) * STEPS
    assert len([pid for pid, count in by_relay.items() if count]) == 2, by_relay  # both published


def test_duplicates_and_reordering_injected(events_settings, tables, tmp_path):
    injected, arrived = tmp_path / "chaos.jsonl", tmp_path / "arrivals.jsonl"

    scenario(
        events_settings,
        tmp_path,
        role="chaos-relay",
        extra_env={
            "SK_CHAOS_SEED": "11",
            "SK_CHAOS_LOG": str(injected),
            "SK_ARRIVALS_LOG": str(arrived),
        },
    )

    assert InboxParked.objects.count() == 0
    chaos = _json_lines(injected)
    duplicated = {event_id for batch in chaos for event_id in batch["duplicated"]}
    reordered = {event_id for batch in chaos for event_id in batch["reordered"]}
    assert duplicated and reordered, "the chaos publisher injected nothing"
    # what reached the inbox, in arrival order: the injected duplicates and reorders are there
    arrivals = _json_lines(arrived)
    seen = Counter(event_id for event_id, _aggregate, _sequence in arrivals)
    assert {event_id for event_id in duplicated if seen[event_id] > 1}
    highest: dict[str, int] = {}
    arrived_early = set()
    for event_id, aggregate, sequence in arrivals:
        if sequence < highest.get(aggregate, 0):
            arrived_early.add(event_id)
        highest[aggregate] = max(sequence, highest.get(aggregate, 0))
    assert arrived_early & reordered


def test_poison_event_is_dead_lettered_and_others_flow(events_settings, tables, tmp_path):
    poison = SKUS[0]
    events_settings["INBOX_MAX_ATTEMPTS"] = 2
    produce_backlog(range(STEPS), poison_sku=poison)
    with support.processes(events_settings) as procs:
        procs.start("consume")
        procs.start("relay")
        wait_for(
            lambda: (
                support.copy_state({poison}) == support.source_state({poison})
                and InboxParked.objects.filter(
                    aggregate_id=poison, reason=ParkedReason.DEAD
                ).exists()
            ),
            timeout=180,
            what="the poison event to be dead-lettered and the rest applied",
        )
    check_invariants(exclude={poison})
    assert poison not in support.copy_state()
    # the poison's later events wait behind it, in order, instead of being applied around it
    waiting = InboxParked.objects.filter(aggregate_id=poison).order_by("sequence")
    assert [p.sequence for p in waiting] == list(range(1, STEPS + 1))


def _rabbitmq_running() -> bool:
    return port_open("127.0.0.1", 5672)


def test_broker_restart_mid_stream(events_settings, tables, tmp_path, rabbitmq_only):
    def restart_broker(procs, _consumer, _relays):
        wait_for(
            lambda: OutboxMessage.objects.filter(status=OutboxStatus.SENT).exists(),
            timeout=120,
            what="the relay to start publishing",
        )
        try:
            subprocess.run(["rabbitmqctl", "stop"], check=False, capture_output=True, timeout=60)
            assert not _rabbitmq_running(), "RabbitMQ did not stop: the test would prove nothing"
            produce_backlog(range(STEPS // 2, STEPS))  # business writes go on while it is down
            time.sleep(1)
        finally:
            if not _rabbitmq_running():
                subprocess.run(["rabbitmq-server", "-detached"], check=False, timeout=60)
            wait_port("127.0.0.1", 5672, timeout=120)
        return True

    try:
        scenario(events_settings, tmp_path, during=restart_broker)
    finally:
        if not _rabbitmq_running():
            subprocess.run(["rabbitmq-server", "-detached"], check=False, timeout=60)
            wait_port("127.0.0.1", 5672, timeout=120)
