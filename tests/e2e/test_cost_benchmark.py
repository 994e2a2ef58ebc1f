"""`make cost` (benchmarks/cost.py) starts the monolith alone and the strangled fleet, measures
both and prints one table with every row: run with a few samples, on the backends of this pass
(SQLite and kombu's files, or PostgreSQL, RabbitMQ and Redis when DATABASE_URL is set)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from servicekit.web.procfile import read_procfile

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

ROWS = [
    "processes (OS)",
    "memory, summed RSS (MiB)",
    "memory, summed PSS (MiB)",
    "checkout p50 (ms)",
    "checkout p99 (ms)",
    "product read p50 (ms)",
    "product read p99 (ms)",
    "event lag p50 (ms)",
    "event lag p99 (ms)",
    "lines of Python",
    "programs to run (Procfile)",
    "databases",
    "queues consumed",
]
# Rows with no figure for the monolith alone: it keeps no second copy to lag behind.
MONOLITH_HAS_NONE = {"event lag p50 (ms)", "event lag p99 (ms)"}


@pytest.fixture(scope="module")
def cost_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path_factory.mktemp("cost") / "cost.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/cost.py", "--samples", "3", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done, json.loads(out.read_text())


@pytest.mark.timeout(1000)
def test_every_row_has_a_positive_figure_for_each_system(cost_run):
    _, report = cost_run
    assert report["samples"] == 3
    assert [row["label"] for row in report["rows"]] == ROWS
    for row in report["rows"]:
        assert isinstance(row["strangled"], int | float) and row["strangled"] > 0, row
        if row["label"] in MONOLITH_HAS_NONE:
            assert row["monolith"] is None, row
        else:
            assert isinstance(row["monolith"], int | float) and row["monolith"] > 0, row


@pytest.mark.timeout(1000)
def test_the_moving_parts_are_what_each_system_runs(cost_run):
    _, report = cost_run
    rows = {row["key"]: row for row in report["rows"]}
    services = 1 + len(list(ROOT.glob("extracted/*/manage.py")))
    assert (rows["programs"]["monolith"], rows["programs"]["strangled"]) == (
        2,
        len(read_procfile(ROOT / "Procfile")),
    )
    assert (rows["databases"]["monolith"], rows["databases"]["strangled"]) == (1, services)
    # gunicorn's master and 2 workers, Celery and its pool at least; every program at least once
    assert rows["processes"]["monolith"] >= 5
    assert rows["processes"]["strangled"] >= rows["programs"]["strangled"]
    assert rows["lines"]["strangled"] > rows["lines"]["monolith"]


@pytest.mark.timeout(1000)
def test_the_table_prints_one_line_a_row_with_both_figures_and_their_ratio(cost_run):
    done, report = cost_run
    lines = done.stdout.splitlines()
    title = next(i for i, line in enumerate(lines) if line.startswith("what it cost ("))
    assert lines[title + 1].split() == ["what", "monolith", "alone", "strangled", "x"]
    assert set(lines[title + 2]) == {"-"}
    printed = lines[title + 3 : title + 3 + len(ROWS)]
    for line, row in zip(printed, report["rows"], strict=True):
        assert line.startswith(row["label"]), line
        first, second, ratio = line[len(row["label"]) :].split()
        assert float(second) > 0
        if row["monolith"] is None:
            assert (first, ratio) == ("-", "-")
        else:
            assert float(first) > 0
            assert float(ratio) == pytest.approx(row["strangled"] / row["monolith"], abs=0.06)
