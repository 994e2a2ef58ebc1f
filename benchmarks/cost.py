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
Procfile. Prints one table and writes the same rows as JSON to `cost.json` in the data folder
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

import requests  # noqa: E402
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


def event_lag(staff: ShopClient, mirror: str, samples: int) -> list[float]:
    """A price changed at the owner (through the proxy: the catalog service) until the mirror
    (the monolith, directly) serves it: the write's commit, relay, broker, consumer, mirror."""
    session = requests.Session()
    lags = []
    base = 100 + uuid.uuid4().int % 800
    for i in range(WARM_UP + samples):
        price = f"{base}.{i % 100:02d}"
        staff.call("POST", f"/api/v1/products/{READ_SKU}/price/", json={"price": price}, retry=True)
        committed = time.perf_counter()
        deadline = committed + 60
        while session.get(f"{mirror}/api/v1/products/{READ_SKU}/").json()["price"] != price:
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


def table(table_rows: list[dict], *, samples: int, backends: str) -> str:
    header = f"{'what':<28} {'monolith alone':>14} {'strangled':>10} {'x':>6}"
    lines = [
        f"what it cost ({samples} samples a latency; {backends})",
        header,
        "-" * len(header),
    ]
    for row in table_rows:
        first, second = row["monolith"], row["strangled"]
        ratio = f"{second / first:.1f}" if first and second is not None else "-"
        lines.append(f"{row['label']:<28} {_cell(first):>14} {_cell(second):>10} {ratio:>6}")
    return "\n".join(lines)


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
    with tempfile.TemporaryDirectory(prefix="cost-") as folder:
        (Path(folder) / "monolith").mkdir()
        (Path(folder) / "fleet").mkdir()
        before = measure_monolith_alone(Path(folder) / "monolith", args.samples)
        after = measure_strangled(Path(folder) / "fleet", args.samples)
    measured = rows(before, after)
    print()
    print(table(measured, samples=args.samples, backends=backends))
    report = {"samples": args.samples, "backends": backends, "rows": measured}
    written = args.json or data_dir() / "cost.json"
    atomic_write(written, json.dumps(report, indent=2) + "\n")
    print(f"the same rows as JSON: {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
