"""The ownership file is rewritten live by several processes: no writer loses another's change."""

from __future__ import annotations

import multiprocessing

import yaml

from servicekit.migration.ownership import ENTITIES, ownership_set

ROUNDS = 40


def _flip_many(entity: str, rounds: int, start) -> None:
    start.wait()
    for round_no in range(rounds):
        ownership_set(entity, f"{entity}-owner-{round_no}")


def test_ownership_set_racing_processes_loses_no_change(settings, tmp_path):
    # given: one process per entity, each flipping only its own entity, all at once
    path = tmp_path / "ownership.yaml"
    settings.OWNERSHIP_FILE = str(path)
    context = multiprocessing.get_context("fork")
    start = context.Event()
    workers = [
        context.Process(target=_flip_many, args=(entity, ROUNDS, start)) for entity in ENTITIES
    ]
    for worker in workers:
        worker.start()

    # when
    start.set()
    for worker in workers:
        worker.join(timeout=60)

    # then: every process finished cleanly and every entity holds its writer's last value
    assert [worker.exitcode for worker in workers] == [0] * len(ENTITIES)
    final = yaml.safe_load(path.read_text())
    assert final == {entity: f"{entity}-owner-{ROUNDS - 1}" for entity in ENTITIES}
