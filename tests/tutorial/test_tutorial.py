"""Walk migrations_plan/ from the first chapter to the last on a live fleet, in order; then kill
the catalog service under the fleet's supervisor, and walk README.md's commands.

The fleet is what `make run` starts (scripts/run.py: migrate, seed, every Procfile process under
scripts/supervisor.py), on free ports and a fresh data folder, with access tokens that live
`TOKEN_TTL` seconds: chapter 07 starts only once chapter 01's token has expired, as it has for
a reader, so the line at the top of each chapter (`plan.py env`) must renew it.
Each command runs in bash with the state of the previous ones, as in a reader's terminal:
variables persist, but only exported ones reach a child process (`sh -c '... $ALICE'`). A
command that fails, or prints something other than what the chapter shows, fails the test
naming the chapter and line. A command a chapter leaves running (chapter 04's `make load`, to
the end of chapter 05's handovers) runs in the background meanwhile; stopped where the chapter
says, it must print what the chapter shows, and Locust's statistics must count no failure.

`TUTORIAL_CHAPTERS=05,06` (or `05-07`, or `graphql` for an appendix) walks only those chapters,
each one whose predecessor is not walked from where `plan.py goto` puts routes and owners (which
moves no data: a gap must skip no handover of data the walked chapters wrote); the other tests,
which need the whole walk, are skipped (chapter 09's table is checked if 09 ran).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from servicekit.web.ports import PORTS
from servicekit.web.procfile import read_procfile
from tests.support.fleet import fleet_pids, procfile_fleet
from tests.support.processes import processes_by_session, stop_process
from tests.support.wait import wait_for, wait_http
from tests.tutorial.chapters import (
    Step,
    chapters,
    mismatch,
    readme,
    run_step,
    selected,
    silent_blocks,
    start_step,
    starts_at,
    steps_of,
)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
pytestmark = pytest.mark.e2e
# Seconds an access token lives on the walk's fleet (JWT_ACCESS_TTL, 900 under `make run`);
# longer, with the 30 s leeway, than the walk takes between two of the chapters' renewals even
# on a loaded 2-core machine (chapter 05's takeovers took over 120 s at load 18; chapter 07,
# the longest, renews again halfway, as a reader must after a break).
TOKEN_TTL = 300
# The chapters to walk (all when unset); a part of the walk is for a developer, not for CI.
WALKED = selected(os.environ.get("TUTORIAL_CHAPTERS"))
PARTIAL = len(WALKED) < len(chapters())
needs_whole_walk = pytest.mark.skipif(PARTIAL, reason="TUTORIAL_CHAPTERS walks a part only")
# TUTORIAL_STEP_TIMES=FILE appends each step's seconds, chapter and line to FILE: `sort -rn FILE
# | head` names the slow waits.
STEP_TIMES = os.environ.get("TUTORIAL_STEP_TIMES")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    data = tmp_path_factory.mktemp("tutorial-fleet")
    # Chapter 07's hanging payment waits one saga step deadline: the chapter shows how to
    # shorten it, as here (15 s still leaves a loaded machine's steps their time).
    settings = {"JWT_ACCESS_TTL": str(TOKEN_TTL), "SAGA_STEP_TIMEOUT": "15"}
    with procfile_fleet(data, env=settings) as env:
        yield env, data
        sessions = set(fleet_pids(data).values())
    # Stopping `make run` (SIGTERM, as Ctrl-C's SIGINT) leaves no process of the fleet behind.
    left = [pid for pid, session in processes_by_session().items() if session in sessions]
    assert not left, f"processes outlived the fleet: {left}"


# Requests of the load that a lab fails on purpose, where a client sees it: (method, name of
# Locust's statistics) -> why. None today: every lab the load runs through (chapter 04's dead
# catalog service under the canary and under extracted reads, chapter 05's handovers) is one a
# correct client must not notice.
LOAD_FAILURES_EXPECTED: dict[tuple[str, str], str] = {}


def load_failures(prefix: Path) -> dict[tuple[str, str], int]:
    """(method, name) -> failures, from the statistics Locust wrote (`LOCUST_CSV`) as it stopped:
    every 5xx, connection error and unexpected 4xx a client saw (loadtest/locustfile.py)."""
    with open(f"{prefix}_stats.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert any(r["Name"] == "Aggregated" and int(r["Request Count"]) > 0 for r in rows), rows
    return {
        (r["Type"], r["Name"]): int(r["Failure Count"])
        for r in rows
        if r["Name"] != "Aggregated" and int(r["Failure Count"])
    }


class Background:
    """Commands a chapter leaves running in a terminal of their own (`make load`), by name.
    Locust's statistics go to `<data>/<name>_stats.csv` (`LOCUST_CSV`, Locust's own variable,
    so the command the chapter shows runs as it is written)."""

    def __init__(self, env: dict[str, str], data: Path):
        self.env, self.data = env, data
        self.running: dict[str, tuple[Step, subprocess.Popen]] = {}

    def start(self, step: Step, state: Path, forced: dict[str, str]) -> None:
        assert step.background not in self.running, f"{step.chapter}:{step.line}: started twice"
        env = {k: v for k, v in self.env.items() if k != "DJANGO_SETTINGS_MODULE"}  # a reader's
        # shell has none; a walk that fails before its stop ends it, and at worst so does this
        env |= {"LOCUST_CSV": str(self.data / step.background), "LOCUST_RUN_TIME": "30m"}
        output = self.data / f"{step.background}.log"
        process = start_step(step.command, env, state, forced, folder=ROOT, output=output)
        self.running[step.background] = (step, process)

    def stop(self, stop: Step) -> None:
        """Ctrl-C, as a reader stops it: SIGINT to its process group. Locust stops its users,
        prints its table and writes its statistics; `stop.expected` is what it must print, and
        its statistics must count no failure a lab did not cause on purpose."""
        if stop.stop not in self.running:
            return  # a partial walk that did not start it (TUTORIAL_CHAPTERS)
        started, process = self.running.pop(stop.stop)
        where = f"{started.chapter}:{started.line}: $ {started.command} (stopped at {stop.chapter}:{stop.line})"
        output = self.data / f"{stop.stop}.log"
        assert process.poll() is None, (
            f"{where}\nended before it was stopped\n{output.read_text()[-3000:]}"
        )
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            # What each process of the group was doing when Ctrl-C did not end it, and what
            # the command had printed: the failure says why, not only that it hung.
            listing = subprocess.run(
                ["ps", "-eo", "pgid,pid,stat,wchan:20,etime,args"], capture_output=True, text=True
            ).stdout.splitlines()
            group = "\n".join(line for line in listing[1:] if line.split()[0] == str(process.pid))
            pytest.fail(
                f"{where}\nstill running 120 s after Ctrl-C (SIGINT to its process group):\n"
                f"{group}\n--- printed:\n{output.read_text(errors='replace')[-4000:]}"
            )
        finally:
            stop_process(process, timeout=10, group=True)
        printed = output.read_text(errors="replace")
        problem = mismatch(started.expected + stop.expected, printed)
        assert problem is None, f"{where}\n{problem}\n--- printed:\n{printed[-4000:]}"
        failed = {
            kind: count
            for kind, count in load_failures(self.data / stop.stop).items()
            if kind not in LOAD_FAILURES_EXPECTED
        }
        assert not failed, f"{where}\nfailures a client saw: {failed}\n{printed[-4000:]}"

    def close(self, *, check: bool) -> None:
        """At the end of a walk: what no chapter stopped is stopped, and checked the same way
        when `check` (a partial walk; not after a failure)."""
        for name, (_, process) in list(self.running.items()):
            if check:
                self.stop(Step("the walk's end", 0, "", stop=name))
            else:
                stop_process(process, timeout=10, group=True)


def step_time(began: float, step: Step) -> None:
    if STEP_TIMES:
        with open(STEP_TIMES, "a") as times:
            times.write(f"{time.monotonic() - began:7.2f} {step.chapter}:{step.line}\n")


def walk(
    steps: list[Step],
    env: dict[str, str],
    data: Path,
    state: Path,
    before=None,
    background: Background | None = None,
) -> None:
    forced = {k: env[k] for k in (*(n.upper() for n in PORTS), "STRANGLER_DATA_DIR")}
    for step in steps:
        if before is not None:
            before(step)
        began = time.monotonic()
        if step.background or step.stop:
            assert background is not None, f"{step.chapter}:{step.line}: no background here"
            if step.background:
                background.start(step, state, forced)
            else:
                background.stop(step)
            step_time(began, step)
            continue
        result = run_step(step.command, env, state, forced, folder=ROOT)
        step_time(began, step)
        output = result.stdout + result.stderr
        where = f"{step.chapter}:{step.line}: $ {step.command}"
        assert result.returncode == 0, (
            f"{where}\nexit {result.returncode}\n{output[-3000:]}\n--- fleet log:\n{(data / 'fleet.log').read_text()[-3000:]}"
        )
        problem = mismatch(step.expected, output)
        assert problem is None, f"{where}\n{problem}\n--- printed:\n{output[-3000:]}"


def shell_variable(state: Path, name: str) -> str:
    done = subprocess.run(
        ["bash", "-c", f'. {state}; printf %s "${name}"'], capture_output=True, text=True
    )
    return done.stdout


def answer_status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


# Every chapter in one walk: minutes on a busy 2-core machine, past the suite's default limit.
@pytest.mark.timeout(1800)
def test_the_tutorial_runs_as_written(fleet):
    env, data = fleet
    state = data / "shell-state.sh"
    found = [step for chapter in chapters() for step in steps_of(chapter)]
    assert len(found) >= 20, "the tutorial lost its commands"
    every = chapters()
    me = f"{env['PROXY']}/api/v1/users/me"
    first: dict[str, str] = {}

    def new_terminal_at_chapter_07(step: Step) -> None:
        if step.chapter.startswith("02") and "ALICE" not in first:
            first["ALICE"] = shell_variable(state, "ALICE")  # what chapter 01 worked with
        if step.chapter.startswith("07") and "new terminal" not in first:
            # A reader back from a break opens a new terminal: no variable, no helper function
            # (the fleet's URLs aside, which the walk pins). Chapter 07 passes only because
            # its first line brings back the tokens and helpers.
            state.write_text("")
            first["new terminal"] = "yes"

    background = Background(env, data)
    try:
        for chapter in WALKED:
            position = every.index(chapter)
            if position > 0 and every[position - 1] not in WALKED:
                subprocess.run(
                    [sys.executable, "scripts/plan.py", "goto", starts_at(chapter)],
                    cwd=ROOT,
                    env=env,
                    check=True,
                    capture_output=True,
                )
            walk(steps_of(chapter), env, data, state, new_terminal_at_chapter_07, background)
    except BaseException:
        background.close(check=False)
        raise
    background.close(check=True)
    if PARTIAL:
        return

    # and chapter 01's token, which a slow reader still holds, is dead by now (the walk after
    # chapter 01 takes about the token's lifetime, so this waits little if at all); the line
    # every chapter opens with gives a live one
    assert first["ALICE"], "chapter 01 made no ALICE token"
    wait_for(
        lambda: answer_status(me, first["ALICE"]) == 401,
        timeout=TOKEN_TTL + 120,
        what="chapter 01's token to expire",
    )
    renewed = subprocess.run(
        [sys.executable, "scripts/plan.py", "env"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    fresh = next(
        line.split("=", 1)[1]
        for line in renewed.stdout.splitlines()
        if line.startswith("export ALICE=")
    )
    assert answer_status(me, fresh) == 200


# Chapter 09's `make cost` rows, in the order its table prints them.
COST_ROWS = [
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
# The appendices' patterns `make cost` measures too, each against the plain way, by key.
COST_PATTERN_ROWS = [
    "quote_p50_ms",
    "quote_client_cpu_ms",
    "quote_server_cpu_ms",
    "page_p50_ms",
    "page_bytes",
    "nested_p50_ms",
    "mtls_rest_p50_ms",
    "mtls_grpc_p50_ms",
    "mtls_new_p50_ms",
    "mtls_new_server_cpu_ms",
    "function_ms",
    "stock_change_ms",
    "stock_load_ms",
    "stock_rebuild_ms",
]


def cost_module():
    """benchmarks/cost.py, to print its tables from the JSON rows as `make cost` did."""
    sys.path.insert(0, str(ROOT / "benchmarks"))  # where the script's own imports live
    spec = importlib.util.spec_from_file_location("cost_benchmark", ROOT / "benchmarks/cost.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def cost_table(report: dict) -> str:
    """The table `make cost` printed, from its JSON rows (benchmarks/cost.py's own `table`)."""
    return cost_module().table(
        report["rows"], samples=report["samples"], backends=report["backends"]
    )


def assert_cost_patterns_measured(report: dict) -> None:
    """Every pattern row, in order, with a positive figure measured and one it is measured
    against (CPU rows may round to 0 ms on few samples), each printed on a line of the
    patterns' table with its ratio."""
    patterns = report["patterns"]
    assert [row["key"] for row in patterns] == COST_PATTERN_ROWS
    for row in patterns:
        assert " vs " in row["label"], row  # what it is measured against
        for column in ("measured", "against"):
            assert isinstance(row[column], int | float), row
            assert row[column] > 0 or ("_cpu_" in row["key"] and row[column] == 0), row
    printed = cost_module().patterns_table(
        patterns, samples=report["samples"], backends=report["backends"]
    )
    lines = printed.splitlines()
    assert lines[0].startswith("what the patterns cost (")
    for line, row in zip(lines[3:], patterns, strict=True):
        assert line.startswith(row["label"]), line
        against, measured, ratio = line[len(row["label"]) :].split()
        assert float(against) == pytest.approx(row["against"], rel=0.06, abs=0.06)
        assert float(measured) == pytest.approx(row["measured"], rel=0.06, abs=0.06)
        if row["against"]:
            assert float(ratio) == pytest.approx(row["measured"] / row["against"], abs=0.06)


@pytest.mark.skipif(
    all(not p.name.startswith("09") for p in WALKED), reason="TUTORIAL_CHAPTERS left out 09"
)
def test_make_cost_in_chapter_09_measured_every_row_of_both_systems(fleet):
    """What chapter 09's `make cost` wrote beside its table (cost.json in the data folder): a
    positive figure for each system in every row, the moving parts each really runs, and the
    table printed from those rows, one line a row with both figures and their ratio; then each
    appendix pattern's rows, measured against the plain way."""
    _, data = fleet
    written = data / "cost.json"
    assert written.exists(), "chapter 09's `make cost` wrote no cost.json: did the walk reach it?"
    report = json.loads(written.read_text())
    assert report["samples"] >= 1
    assert [row["label"] for row in report["rows"]] == COST_ROWS
    for row in report["rows"]:
        assert isinstance(row["strangled"], int | float) and row["strangled"] > 0, row
        if row["label"] in MONOLITH_HAS_NONE:
            assert row["monolith"] is None, row
        else:
            assert isinstance(row["monolith"], int | float) and row["monolith"] > 0, row

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

    lines = cost_table(report).splitlines()
    title = next(i for i, line in enumerate(lines) if line.startswith("what it cost ("))
    assert lines[title + 1].split() == ["what", "monolith", "alone", "strangled", "x"]
    assert set(lines[title + 2]) == {"-"}
    printed = lines[title + 3 : title + 3 + len(COST_ROWS)]
    for line, row in zip(printed, report["rows"], strict=True):
        assert line.startswith(row["label"]), line
        first, second, ratio = line[len(row["label"]) :].split()
        assert float(second) > 0
        if row["monolith"] is None:
            assert (first, ratio) == ("-", "-")
        else:
            assert float(first) > 0
            assert float(ratio) == pytest.approx(row["strangled"] / row["monolith"], abs=0.06)

    assert_cost_patterns_measured(report)


@needs_whole_walk
@pytest.mark.timeout(600)
def test_a_dead_catalog_service_leaves_the_fleet_up_and_reads_fall_back(fleet):
    """After the walk, product reads go to the catalog service with the monolith as fallback."""
    env, data = fleet
    # where the walk left it (a no-op then): product reads on the catalog service, fallback on
    subprocess.run([sys.executable, "scripts/plan.py", "goto", "09"], cwd=ROOT, env=env, check=True)
    staff = (
        subprocess.run(
            [sys.executable, "scripts/plan.py", "env"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        .stdout.split("export STAFF=", 1)[1]
        .split()[0]
    )
    before = fleet_pids(data)
    assert {"proxy", "monolith", "catalog", "orders-saga"} <= set(before)

    def served_by_monolith() -> int:
        request = urllib.request.Request(
            f"{env['PROXY']}/_strangler/traffic", headers={"Authorization": f"Bearer {staff}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            routes = json.load(answer)["routes"]
        return routes["catalog-products-read"]["by_upstream"].get("monolith", 0)

    fallbacks = served_by_monolith()

    # when: the catalog's web process group dies at once (gunicorn master and workers)
    os.killpg(before["catalog"], signal.SIGKILL)

    # then: reads through the proxy keep answering, from the monolith while it is down
    for _ in range(5):
        with urllib.request.urlopen(f"{env['PROXY']}/api/v1/products/COF-0001/") as answer:
            assert answer.status == 200
            assert json.load(answer)["sku"] == "COF-0001"
    assert served_by_monolith() > fallbacks
    # the supervisor says so and restarts it; every other process kept its pid
    wait_for(
        lambda: fleet_pids(data).get("catalog") not in (None, before["catalog"]),
        timeout=120,
        what="the supervisor to restart the catalog service",
    )
    assert "catalog was killed by SIGKILL; restarting it in" in (data / "fleet.log").read_text()
    wait_http(f"{env['CATALOG']}/healthz", timeout=120)
    after = fleet_pids(data)
    assert {k: v for k, v in after.items() if k != "catalog"} == {
        k: v for k, v in before.items() if k != "catalog"
    }


@needs_whole_walk
@pytest.mark.timeout(900)
def test_the_readme_runs_as_written(fleet):
    """README.md's command blocks, in a new terminal (no state from the walk), from where the
    walk and the dead catalog left the fleet: its own first line sets the terminal up, and its
    walkthrough starts with `plan.py goto 01`."""
    env, data = fleet
    assert silent_blocks(readme()) == [], "README.md shows commands no test runs"
    for chapter in chapters():
        assert silent_blocks(chapter) == [], f"{chapter.name} shows commands no test runs"
    found = steps_of(readme())
    assert len(found) >= 15, "the README lost its commands"
    walk(found, env, data, data / "readme-shell-state.sh")


def test_tutorial_chapters_takes_numbers_ranges_and_appendix_names():
    """What `TUTORIAL_CHAPTERS` selects, and where a walk that skips a chapter starts (no fleet)."""

    def names(wanted: str) -> list[str]:
        return [p.name[:2] if p.name[0].isdigit() else p.stem for p in selected(wanted)]

    assert selected("") == selected(None) == chapters()
    assert names("05") == ["05"]
    assert names("06, 01,05-06") == ["01", "05", "06"]
    assert names("graphql,08") == ["08", "appendix-graphql"]
    assert [starts_at(p) for p in selected("00,05,grpc")] == ["01", "05", "09"]
    with pytest.raises(ValueError, match="no chapter"):
        selected("5x")
    with pytest.raises(ValueError, match="no chapter"):
        selected("42")


def test_a_command_left_running_is_started_then_stopped_where_the_chapter_says(tmp_path):
    """`tutorial: background NAME` starts a block's command and walks on; `tutorial: stop NAME`
    holds what it printed when stopped (no fleet). Chapter 04 leaves `make load` running through
    its labs and chapter 05's handovers, and chapter 05 stops it."""
    page = tmp_path / "04-x.md"
    page.write_text(
        "<!-- tutorial: background load (why) -->\n```console\n$ make load ARGS=x\nStarting\n```\n"
        "```console\n$ echo on\non\n```\n"
        "<!-- tutorial: stop load (why) -->\n```console\n...\nAggregated ... 0(0.00%) | ...\n```\n"
    )
    started, between, stopped = steps_of(page)
    assert (started.command, started.background, started.expected) == (
        "make load ARGS=x",
        "load",
        ["Starting"],
    )
    assert (between.command, between.background, between.stop) == ("echo on", "", "")
    assert (stopped.command, stopped.stop) == ("", "load")
    assert stopped.expected == ["...", "Aggregated ... 0(0.00%) | ..."]
    assert silent_blocks(page) == []  # the stop block shows output, no command: not silent
    assert mismatch(stopped.expected, "Aggregated 80 0(0.00%) | 120 26") is None
    assert mismatch(stopped.expected, "Aggregated 80 3(3.75%) | 120 26") is not None

    by_chapter = {p.name[:2]: steps_of(p) for p in chapters()}
    assert [s.command for s in by_chapter["04"] if s.background == "load"] == [
        'make load ARGS="--headless --only-summary -u 5 -r 5"'
    ]
    assert [s.stop for s in by_chapter["05"] if s.stop] == ["load"]
