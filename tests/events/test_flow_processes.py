"""Cross-process flow: outbox -> relay process -> broker -> consumer process -> copy table.

Runs on whatever backends are configured: SQLite + kombu's filesystem transport on the embedded
pass (where topic bindings live in process memory, so this proves the relay's topology routing),
PostgreSQL + RabbitMQ on the real pass.
"""

from __future__ import annotations

import pytest

from tests.events import support
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration


def test_changes_flow_across_processes_exactly_once_in_order(events_settings, tables):
    # given: a backlog written before any relay runs
    skus = [f"P{i}" for i in range(8)]
    for step in range(4):
        for sku in skus:
            support.produce(sku, step)

    with support.processes(events_settings) as procs:
        # when: a relay and a consumer run as separate processes
        procs.start("consume")
        procs.start("relay")
        for sku in skus:  # and more changes arrive while they run
            support.produce(sku, 4)
        wait_for(
            lambda: support.copy_state() == support.source_state(),
            timeout=120,
            what="copy to equal source",
        )

    # then
    assert len(support.source_state()) == len(skus)
    assert support.assert_exactly_once_in_order() == len(skus) * 5
