"""`make cost`: what strangling cost, measured on this machine: the monolith alone vs the fleet.

Starts, on free ports and fresh data folders (the embedded defaults; with `--real`, or with
DATABASE_URL, CELERY_BROKER_URL and REDIS_URL set, on PostgreSQL, RabbitMQ and Redis), one after
the other:
  * the monolith alone: the Procfile's `monolith` (gunicorn) and `monolith-worker` (Celery), as
    it ran before any strangling (`scripts/run.py --only`);
  * the strangled fleet: every Procfile process (`make run`), with routes and owners where the
    tutorial ends (`scripts/plan.py goto`).
On each it measures a checkout (the monolith: one transaction, answered `pending`; the fleet:
through the proxy, the orders service's saga until `confirmed`), a product read (the monolith
directly; the fleet through the proxy to the catalog service), on the fleet the event lag (a
price changed in the catalog service until the monolith's mirror serves it), then the processes
and memory of what it started. Lines of code and moving parts are counted from the tree and the
Procfile. Then the appendices' patterns, each against the plain way it replaces or adds to, by
the measuring functions of their own benchmarks (bench_grpc, bench_graphql,
bench_function_cold_start, bench_stock_events) on one catalog of their own (`--no-patterns`
leaves them out, `--patterns-only` measures only them). Prints one table and writes the same rows as JSON to `cost.json` in the data folder
(`var/`, or STRANGLER_DATA_DIR; `--json FILE` elsewhere), to keep runs side by side. Every process
it starts is stopped, and every database it made dropped, before it exits.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_events import percentile  # noqa: E402

from servicekit.web.env import data_dir  # noqa: E402
from servicekit.web.files import atomic_write  # noqa: E402
from servicekit.web.procfile import read_procfile  # noqa: E402
from tests.support.fleet import fleet_pids, procfile_fleet  # noqa: E402
from tests.support.processes import processes_by_session  # noqa: E402
from tests.support.shop_client import ClientGaveUp, Recorder, ShopClient  # noqa: E402
from tests.support.wait import wait_for  # noqa: E402

# The monolith as it ran before the strangling began: its web server and its task worker (the
# relay and the inbox consumers exist only to exchange events with extracted services).
MONOLITH_ALONE = ["monolith", "monolith-worker"]
# Python that runs in production, before (the monolith) and after (everything the fleet runs).
CODE_BEFORE = ["monolith"]
CODE_AFTER = ["monolith", "extracted", "servicekit", "strangler_proxy", "contracts"]
READ_SKU = "COF-0001"  # read, and re-priced for the event lag
BUY_SKU = "KIT-0003"  # bought, one unit a checkout
WARM_UP = 3  # requests of each kind before measuring: imports, pools, caches


@dataclass
class Measured:
    """One system's figures; None where a figure does not apply to it."""

    processes: int = 0
    rss_mib: float = 0.0
    pss_mib: float = 0.0
    checkout_ms: list[float] = field(default_factory=list)
    read_ms: list[float] = field(default_factory=list)
    lag_ms: list[float] | None = None
    programs: int = 0
    databases: int = 0
    queues: int = 0
    lines: int = 0


# --- counting -------------------------------------------------------------------------------


def python_lines(folders: list[str]) -> int:
    """Lines of Python that are neither blank nor only a comment, migrations left out (Django
    writes them), under each folder of the repository."""
    total = 0
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            total += sum(
                1
                for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.lstrip().startswith("#")
            )
    return total


_INBOX = re.compile(r"inbox_consume\s+(\S+)")
_CELERY_QUEUES = re.compile(r"--queues[\s=]+(\S+)")


def queues_consumed(commands: list[str]) -> int:
    """Broker queues the processes consume: one per inbox consumer, and each Celery queue."""
    names: set[str] = set()
    for command in commands:
        names.update(_INBOX.findall(command))
        for listed in _CELERY_QUEUES.findall(command):
            names.update(listed.split(","))
    return len(names)


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB, from /proc; (0, 0) for one that has exited since.

    RSS counts a page shared by a gunicorn master and its forked workers in each of them; PSS
    splits it between them, so summed PSS is what the processes take together."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    rss = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    pss = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
    return (int(rss.group(1)) if rss else 0, int(pss.group(1)) if pss else 0)


def count_processes(data: Path, measured: Measured) -> None:
    """Every process in the sessions the supervisor started (gunicorn masters and workers,
    Celery's pool, each relay and consumer); the supervisor itself is `make run`'s, not the
    system's, and left out."""
    sessions = set(fleet_pids(data).values())
    pids = [pid for pid, session in processes_by_session().items() if session in sessions]
    sizes = [memory_kib(pid) for pid in pids]
    measured.processes = len(pids)
    measured.rss_mib = sum(rss for rss, _ in sizes) / 1024
    measured.pss_mib = sum(pss for _, pss in sizes) / 1024


def moving_parts(names: list[str], measured: Measured) -> None:
    import run  # scripts/run.py: which service each process belongs to

    commands = read_procfile(ROOT / "Procfile")
    measured.programs = len(names)
    measured.databases = len(run.services_of(names))
    measured.queues = queues_consumed([commands[name] for name in names])


# --- traffic --------------------------------------------------------------------------------


def timed(samples: int, action: Callable[[int], None]) -> list[float]:
    """Milliseconds each of `samples` calls of action(i) took, after WARM_UP unmeasured ones."""
    for i in range(WARM_UP):
        action(-1 - i)
    times = []
    for i in range(samples):
        began = time.perf_counter()
        action(i)
        times.append((time.perf_counter() - began) * 1000)
    return times


def shop_clients(base_url: str) -> tuple[ShopClient, ShopClient]:
    """alice and staff logged in at `base_url`; waits while the users' copy is not there yet."""
    recorder = Recorder()
    clients = []
    for username in ("alice", "staff"):
        client = ShopClient(base_url, recorder, name=username)
        wait_for(
            lambda c=client, u=username: c.login(u, f"{u}-demo-pass") or True,
            timeout=180,
            what=f"{username} to log in at {base_url}",
            interval=1.0,
            ignore=(ClientGaveUp,),
        )
        clients.append(client)
    return clients[0], clients[1]


def stock_up(staff: ShopClient, units: int) -> None:
    staff.call("PUT", f"/api/v1/products/{BUY_SKU}/inventory/", json={"on_hand": units}, retry=True)


def checkout(alice: ShopClient, *, settled: str) -> Callable[[int], None]:
    """Place a one-unit order; it must come back `settled` (`Prefer: wait` lets the orders
    service answer once its saga settled; the monolith ignores it and answers at once)."""

    def place(_: int) -> None:
        body = alice.call(
            "POST",
            "/api/v1/orders/",
            json={"lines": [{"sku": BUY_SKU, "quantity": 1}]},
            headers={"Idempotency-Key": f"cost-{uuid.uuid4().hex}", "Prefer": "wait=10"},
        ).json()
        if body["status"] != settled:
            raise RuntimeError(f"checkout answered {body['status']}, not {settled}: {body}")

    return place


def product_read(client: ShopClient) -> Callable[[int], None]:
    def read(_: int) -> None:
        client.call("GET", f"/api/v1/products/{READ_SKU}/", auth=False)

    return read


def mirrored_price(reader: ShopClient) -> str:
    """The price the mirror serves now. Read as a client does (a 503's Retry-After waited, a
    5xx or a dropped connection tried again); an answer without a JSON price raises with what
    came instead."""
    answer = reader.call("GET", f"/api/v1/products/{READ_SKU}/", auth=False)
    try:
        return answer.json()["price"]
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(
            f"the mirror at {reader.base_url} answered {answer.status_code} "
            f"{answer.headers.get('Content-Type')!r} without a price: {answer.text[:300]!r}"
        ) from exc


def event_lag(staff: ShopClient, mirror: str, samples: int) -> list[float]:
    """A price changed at the owner (through the proxy: the catalog service) until the mirror
    (the monolith, directly) serves it: the write's commit, relay, broker, consumer, mirror."""
    reader = ShopClient(mirror, Recorder(), name="mirror reader")
    lags = []
    base = 100 + uuid.uuid4().int % 800
    for i in range(WARM_UP + samples):
        price = f"{base}.{i % 100:02d}"
        staff.call("POST", f"/api/v1/products/{READ_SKU}/price/", json={"price": price}, retry=True)
        committed = time.perf_counter()
        deadline = committed + 60
        while mirrored_price(reader) != price:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"the mirror at {mirror} did not serve price {price} in 60 s")
            time.sleep(0.005)
        if i >= WARM_UP:
            lags.append((time.perf_counter() - committed) * 1000)
    return lags


# --- the two systems ------------------------------------------------------------------------


def measure_monolith_alone(data: Path, samples: int) -> Measured:
    measured = Measured(lines=python_lines(CODE_BEFORE))
    with procfile_fleet(data, only=MONOLITH_ALONE) as env:
        print("measuring the monolith alone", flush=True)
        alice, staff = shop_clients(env["MONOLITH"])
        stock_up(staff, samples + WARM_UP + 100)
        measured.read_ms = timed(samples, product_read(alice))
        measured.checkout_ms = timed(samples, checkout(alice, settled="pending"))
        count_processes(data, measured)
    moving_parts(MONOLITH_ALONE, measured)
    return measured


def plan_end() -> str:
    """`scripts/plan.py goto`'s argument for where the tutorial ends."""
    from plan import chapter_number, load_plan

    return f"{max(chapter_number(step) for step in load_plan()) + 1:02d}"


def measure_strangled(data: Path, samples: int) -> Measured:
    import subprocess

    measured = Measured(lines=python_lines(CODE_AFTER))
    names = list(read_procfile(ROOT / "Procfile"))
    with procfile_fleet(data) as env:
        print("measuring the strangled fleet", flush=True)
        subprocess.run(
            [sys.executable, "scripts/plan.py", "goto", plan_end()],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        alice, staff = shop_clients(env["PROXY"])
        stock_up(staff, samples + WARM_UP + 100)
        # The orders service's copy of the stock follows the catalog's events: until it has the
        # new count, an order may be refused or cancelled.
        wait_for(
            lambda: checkout(alice, settled="confirmed")(0) or True,
            timeout=180,
            what="a first checkout through the proxy to be confirmed",
            interval=1.0,
            ignore=(RuntimeError, ClientGaveUp),
        )
        measured.read_ms = timed(samples, product_read(alice))
        measured.checkout_ms = timed(samples, checkout(alice, settled="confirmed"))
        measured.lag_ms = event_lag(staff, env["MONOLITH"], samples)
        count_processes(data, measured)
    moving_parts(names, measured)
    return measured


def show_fleet_logs(folder: Path, lines: int = 80) -> None:
    """The end of each fleet's log (warnings and errors: the fleets log at WARNING), on stderr."""
    for log in sorted(folder.glob("*/fleet.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        print(f"--- the end of {log.parent.name}'s fleet.log:", *tail, sep="\n", file=sys.stderr)


# --- the appendices' patterns ---------------------------------------------------------------


def pattern_row(key: str, what: str, measured: tuple[str, float], against: tuple[str, float]):
    """A row of the patterns' table: `what`, measured one way, against another."""
    return {
        "key": key,
        "label": f"{what}: {measured[0]} vs {against[0]}",
        "measured": measured[1],
        "against": against[1],
    }


def stock_events(samples: int) -> int:
    """Events on the sku the stock rows load: 20 a sample, between 100 and 1000."""
    return min(1000, max(100, 20 * samples))


def measure_patterns(samples: int) -> list[dict]:
    """Each pattern against the plain way, by its benchmark's own measuring functions: gRPC,
    GraphQL and mTLS on one catalog (60 products; its HTTP process and gRPC server, then both
    again under mTLS), the order-email function's cold starts, and the event-sourced stock on a
    catalog database of its own, in a process of its own (it sets Django up)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import bench_function_cold_start as functions
    import bench_graphql as graphql
    import bench_grpc as grpc
    import bench_stock_events as stock

    print("measuring the patterns", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="cost-patterns-") as tmp,
        grpc.catalog_servers(tmp) as (http, grpc_server),
    ):
        quote = grpc.measure_transports(http, grpc_server, calls=samples)
        variants = graphql.reads()
        chosen = (graphql.REST_PAGE, graphql.GRAPHQL_PAGE)
        chosen += (graphql.REST_NESTED, graphql.GRAPHQL_NESTED)
        reads = graphql.measure(
            graphql.Client(http.url),
            {name: variants[name] for name in chosen},
            samples,
            warm=5,
        )
        quote |= grpc.measure_mtls(http, calls=samples, tmp=tmp)
    cold_runs = max(1, min(5, samples // 10))
    function, _ = functions.measure(cold_runs, warm=samples, every_runtime=False)
    events = stock_events(samples)
    database = os.environ.get("DATABASE_URL", "")
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as child:
        stocked = child.submit(
            stock.run,
            events,
            max(5, samples),
            database if database.startswith("postgres") else None,
        ).result()

    def ms(values: list[float]) -> float:
        return percentile(values, 0.5) * 1000

    rest_new, mtls_new = quote[grpc.REST_NEW], quote[grpc.REST_MTLS_NEW]
    page, page_gql = reads[graphql.REST_PAGE], reads[graphql.GRAPHQL_PAGE]
    nested, nested_gql = reads[graphql.REST_NESTED], reads[graphql.GRAPHQL_NESTED]
    q_rest, q_grpc = quote[grpc.REST], quote[grpc.GRPC]
    q_rest_tls, q_grpc_tls = quote[grpc.REST_MTLS], quote[grpc.GRPC_MTLS]
    per_1000 = 1000 / stocked["rebuild_events"]
    # key, what; measured as, its figure; against, its figure
    # fmt: off
    specs = [
        ("quote_p50_ms", "checkout quote p50 (ms)", "gRPC", q_grpc["p50_ms"], "REST", q_rest["p50_ms"]),
        ("quote_client_cpu_ms", "checkout quote, client CPU a call (ms)", "gRPC", q_grpc["client_cpu_ms"], "REST", q_rest["client_cpu_ms"]),
        ("quote_server_cpu_ms", "checkout quote, server CPU a call (ms)", "gRPC", q_grpc["server_cpu_ms"], "REST", q_rest["server_cpu_ms"]),
        ("page_p50_ms", "page of 20 products p50 (ms)", "GraphQL", page_gql["p50"], "REST", page["p50"]),
        ("page_bytes", "page of 20 products (bytes)", "GraphQL", page_gql["bytes"], "REST", page["bytes"]),
        ("nested_p50_ms", f"{graphql.CATEGORIES} categories + products p50 (ms)", "GraphQL", nested_gql["p50"], "REST", nested["p50"]),
        ("mtls_rest_p50_ms", "checkout quote, REST p50 (ms)", "mTLS", q_rest_tls["p50_ms"], "plain", q_rest["p50_ms"]),
        ("mtls_grpc_p50_ms", "checkout quote, gRPC p50 (ms)", "mTLS", q_grpc_tls["p50_ms"], "plain", q_grpc["p50_ms"]),
        ("mtls_new_p50_ms", "new connection a call p50 (ms)", "mTLS", mtls_new["p50_ms"], "plain", rest_new["p50_ms"]),
        ("mtls_new_server_cpu_ms", "new connection, server CPU (ms)", "mTLS", mtls_new["server_cpu_ms"], "plain", rest_new["server_cpu_ms"]),
        ("function_ms", "order e-mail function (ms)", "cold start", ms(function[functions.FRAMEWORK]), "warm call", ms(function[functions.WARM])),
        ("stock_change_ms", "stock change (ms)", "event append", stocked["append_ms"], "row UPDATE", stocked["row_update_ms"]),
        ("stock_load_ms", f"stock load, {events} events (ms)", "snapshot", stocked["load_snapshot_ms"], "fold all", stocked["load_full_ms"]),
        ("stock_rebuild_ms", "1000 stock events (ms)", "rebuilt", stocked["rebuild_ms"] * per_1000, "appended", stocked["append_ms"] * 1000),
    ]
    # fmt: on
    return [pattern_row(key, what, (a, x), (b, y)) for key, what, a, x, b, y in specs]


# --- the table ------------------------------------------------------------------------------


def rows(before: Measured, after: Measured) -> list[dict]:
    def pct(values: list[float] | None, q: float) -> float | None:
        return None if values is None else percentile(values, q)

    return [
        {"key": key, "label": label, "monolith": first, "strangled": second}
        for key, label, first, second in [
            ("processes", "processes (OS)", before.processes, after.processes),
            ("rss_mib", "memory, summed RSS (MiB)", before.rss_mib, after.rss_mib),
            ("pss_mib", "memory, summed PSS (MiB)", before.pss_mib, after.pss_mib),
            (
                "checkout_p50_ms",
                "checkout p50 (ms)",
                pct(before.checkout_ms, 0.5),
                pct(after.checkout_ms, 0.5),
            ),
            (
                "checkout_p99_ms",
                "checkout p99 (ms)",
                pct(before.checkout_ms, 0.99),
                pct(after.checkout_ms, 0.99),
            ),
            (
                "read_p50_ms",
                "product read p50 (ms)",
                pct(before.read_ms, 0.5),
                pct(after.read_ms, 0.5),
            ),
            (
                "read_p99_ms",
                "product read p99 (ms)",
                pct(before.read_ms, 0.99),
                pct(after.read_ms, 0.99),
            ),
            (
                "lag_p50_ms",
                "event lag p50 (ms)",
                pct(before.lag_ms, 0.5),
                pct(after.lag_ms, 0.5),
            ),
            (
                "lag_p99_ms",
                "event lag p99 (ms)",
                pct(before.lag_ms, 0.99),
                pct(after.lag_ms, 0.99),
            ),
            ("lines", "lines of Python", before.lines, after.lines),
            ("programs", "programs to run (Procfile)", before.programs, after.programs),
            ("databases", "databases", before.databases, after.databases),
            ("queues", "queues consumed", before.queues, after.queues),
        ]
    ]


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if float(value).is_integer() or value >= 100 else f"{value:.1f}"


def _ratio(value: float) -> str:
    """One decimal, or as many as a small ratio needs to show its first digit (up to three)."""
    for places in (1, 2):
        if value >= 10**-places:
            return f"{value:.{places}f}"
    return f"{value:.3f}"


def _render(title: str, head: str, columns: list[tuple[str, str]], rows: list[dict]) -> str:
    """`title`, the header, a rule, then a line a row: its label, its two figures (`columns`:
    each figure's key in the row and its heading) and the second ÷ the first."""
    (first_key, first_head), (second_key, second_head) = columns
    label_width = max([28, *(len(row["label"]) for row in rows)])
    widths = (max(10, len(first_head)), max(10, len(second_head)))
    header = f"{head:<{label_width}} {first_head:>{widths[0]}} {second_head:>{widths[1]}} {'x':>6}"
    lines = [title, header, "-" * len(header)]
    for row in rows:
        first, second = row[first_key], row[second_key]
        ratio = _ratio(second / first) if first and second is not None else "-"
        lines.append(
            f"{row['label']:<{label_width}} {_cell(first):>{widths[0]}} "
            f"{_cell(second):>{widths[1]}} {ratio:>6}"
        )
    return "\n".join(lines)


def table(table_rows: list[dict], *, samples: int, backends: str) -> str:
    """The monolith alone against the strangled fleet; x is strangled / monolith alone."""
    title = f"what it cost ({samples} samples a latency; {backends})"
    columns = [("monolith", "monolith alone"), ("strangled", "strangled")]
    return _render(title, "what", columns, table_rows)


def patterns_table(pattern_rows: list[dict], *, samples: int, backends: str) -> str:
    """The patterns' rows: each what it measured, against what; x is measured / against."""
    title = f"what the patterns cost ({samples} samples a latency; {backends})"
    columns = [("against", "against"), ("measured", "measured")]
    return _render(title, "what: measured vs against", columns, pattern_rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--samples", type=int, default=20, help="timed requests per latency row (default 20)"
    )
    parser.add_argument(
        "--real",
        action="store_true",
        help="on PostgreSQL + RabbitMQ + Redis (local servers unless DATABASE_URL etc. are set)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="where the rows are written as JSON too (default: cost.json in the data folder)",
    )
    which = parser.add_mutually_exclusive_group()
    for flag, meaning in (
        ("--no-patterns", "leave the appendices' patterns out"),
        ("--patterns-only", "only the appendices' patterns (no fleet)"),
    ):
        which.add_argument(flag, action="store_true", help=meaning)
    args = parser.parse_args(argv)
    if args.samples < 1:
        parser.error("--samples: at least 1")
    if args.real:
        import run

        run.real_servers(os.environ)  # the local servers where nothing is set; exits if down
    backends = (
        "PostgreSQL + RabbitMQ + Redis"
        if os.environ.get("DATABASE_URL")
        else "SQLite + kombu files"
    )
    print(f"make cost: {args.samples} samples a latency, on {backends}", flush=True)
    measured: list[dict] = []
    if not args.patterns_only:
        with tempfile.TemporaryDirectory(prefix="cost-") as folder:
            (Path(folder) / "monolith").mkdir()
            (Path(folder) / "fleet").mkdir()
            try:
                before = measure_monolith_alone(Path(folder) / "monolith", args.samples)
                after = measure_strangled(Path(folder) / "fleet", args.samples)
            except Exception:
                show_fleet_logs(Path(folder))  # the folder goes with the failure
                raise
        measured = rows(before, after)
    patterns = [] if args.no_patterns else measure_patterns(args.samples)
    if measured:
        print()
        print(table(measured, samples=args.samples, backends=backends))
    if patterns:
        print()
        print(patterns_table(patterns, samples=args.samples, backends=backends))
    report = {
        "samples": args.samples,
        "backends": backends,
        "rows": measured,
        "patterns": patterns,
    }
    written = args.json or data_dir() / "cost.json"
    atomic_write(written, json.dumps(report, indent=2) + "\n")
    print(f"the same rows as JSON: {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
