"""`make polyglot-bench`: the catalog's product reads in each language, measured in one run.

Builds every implementation in polyglot/ from clean (its dependency install included), starts
it beside the Python catalog service (gunicorn, 1 worker, 4 threads, as the tests run it) on
the same events (tests/polyglot/corpus.py) with a proxy in front of each (the same route table,
pointed at each implementation), then measures: lines of code, build time, artefact size,
start-up time to /readyz, resident memory idle and under load, p50/p99 and req/s under the same
wrk load through the proxy, and how fast each applies a burst of product events from its own
queue. Needs PostgreSQL and RabbitMQ (DATABASE_URL, CELERY_BROKER_URL; local servers by
default); installs wrk from Debian when missing. Every process it starts is stopped at exit.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
os.environ.setdefault("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
os.environ.setdefault("DJANGO_ENV", "test")

from contracts.catalog import ProductCreatedV1, StockChangedV2  # noqa: E402
from servicekit.events.envelope import Envelope, now_utc  # noqa: E402
from tests.polyglot.corpus import feed, product_created  # noqa: E402
from tests.polyglot.implementations import IMPLEMENTATIONS  # noqa: E402
from tests.polyglot.world import World, world  # noqa: E402
from tests.support.processes import free_port, stop_process  # noqa: E402
from tests.support.wait import wait_for  # noqa: E402

# The Python service's own code for these reads and their events (it also leans on servicekit
# and Django REST framework, as the others lean on their libraries).
PYTHON_SOURCES = [
    "extracted/catalog/products/apis.py",
    "extracted/catalog/products/selectors.py",
    "extracted/catalog/products/serializers.py",
    "extracted/catalog/products/models.py",
    "extracted/catalog/products/urls.py",
    "extracted/catalog/products/consumers.py",
    "extracted/catalog/products/services.py",
]
LOAD_PATH = "/api/v1/products/?category=coffee&page_size=20"
_LAT = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    print("installing wrk (apt-get)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)


def lines_of_code(paths: list[Path]) -> int:
    return sum(1 for path in paths for line in path.read_text().splitlines() if line.strip())


def size_mib(paths: list[Path]) -> float:
    total = 0
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        total += sum(p.stat().st_size for p in files)
    return total / 2**20


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants (gunicorn's master and worker)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        stack.extend(int(child) for child in children)
    return total / 1024


def wrk(url: str, *, connections: int, duration: int, rss_of: int) -> dict[str, float]:
    process = subprocess.Popen(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-H",
            "Host: localhost",
            url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(duration / 2)
    loaded = tree_rss_mib(rss_of)
    out, _ = process.communicate()
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    latency = {p: float(v) * scale[u] for p, v, u in _LAT.findall(out)}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency.get("50", float("nan")),
        "p99": latency.get("99", float("nan")),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
        "rss_load": loaded,
    }


def burst(count: int) -> list[Envelope]:
    """`count` new products, then a stock change for each: 2 x count events."""
    tag = uuid.uuid4().hex[:6].upper()
    out = []
    for sequence, make in ((1, _created), (2, _stock)):
        for index in range(count):
            event = make(f"B{tag}-{index:05d}")
            out.append(
                Envelope(
                    event_id=uuid.uuid4(),
                    event_type=event.event_type,
                    aggregate_type="product",
                    aggregate_id=event.sku,
                    sequence=sequence,
                    occurred_at=now_utc(),
                    origin="monolith",
                    payload=event.to_payload(),
                )
            )
    return out


def _created(sku: str) -> ProductCreatedV1:
    return product_created(sku, 1, "coffee", is_active=True, on_hand=1)


def _stock(sku: str) -> StockChangedV2:
    return StockChangedV2(sku=sku, on_hand=3, reserved=1, available=2, reason="bench")


def apply_rate(shared: World, name: str, queue: str, count: int) -> float:
    """Events per second from publishing a burst straight into `queue` to the last one applied."""
    from kombu import Producer

    from servicekit.events.broker.topology import broker_connection

    envelopes = burst(count)
    last = envelopes[-1].aggregate_id
    started = time.perf_counter()
    with broker_connection(shared.broker_url) as connection:
        producer = Producer(connection.channel())
        for envelope in envelopes:
            producer.publish(
                envelope.to_json(),
                routing_key=queue,
                exchange="",
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
            )

    def applied() -> bool:
        response = shared.get(name, f"/api/v1/products/{last}/", direct=True)
        return response.status == 200 and response.json()["stock"]["available"] == 2

    wait_for(applied, timeout=300, interval=0.05, what=f"{name} to apply the burst")
    return len(envelopes) / (time.perf_counter() - started)


def python_ready_seconds(service) -> float:
    """A second gunicorn like the fleet's, on the migrated database: start to /readyz 200."""
    import urllib3

    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        service.serve_command(port),
        cwd=ROOT,
        env=service.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    http = urllib3.PoolManager()
    try:
        wait_for(
            lambda: (
                http.request("GET", f"http://127.0.0.1:{port}/readyz", retries=False).status == 200
            ),
            timeout=60,
            interval=0.02,
            what="python to be ready",
            ignore=(urllib3.exceptions.HTTPError,),
        )
        return time.perf_counter() - started
    finally:
        stop_process(process)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds of wrk per implementation")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--events", type=int, default=1000, help="products in the event burst")
    args = parser.parse_args(argv)
    ensure_wrk()

    rows: dict[str, dict] = {
        "python": {
            "loc": lines_of_code([ROOT / p for p in PYTHON_SOURCES]),
            "build": None,
            "artefact": size_mib([ROOT / ".venv"]),
        }
    }
    for name, impl in IMPLEMENTATIONS.items():
        sources = [p for pattern in impl.sources for p in sorted(impl.folder.glob(pattern))]
        rows[name] = {"loc": lines_of_code(sources), "build": impl.build_run(clean=True)}
        if impl.ship:
            subprocess.run(impl.ship, cwd=impl.folder, check=True)
        rows[name]["artefact"] = size_mib([impl.folder / a for a in impl.artefacts])
        if impl.ship:
            impl.build_run(clean=True)  # what the tests build on again

    the_feed = feed()
    with (
        tempfile.TemporaryDirectory(prefix="polyglot-bench-") as folder,
        world(
            Path(folder),
            list(IMPLEMENTATIONS),
            feed_envelopes=the_feed.envelopes,
            expected=the_feed.expected,
        ) as shared,
    ):
        rows["python"]["ready"] = python_ready_seconds(shared.python)
        rows["python"]["pid"] = shared.python.process.pid
        for name, service in shared.reads.items():
            rows[name]["ready"] = service.ready_seconds
            rows[name]["pid"] = service.process.pid
        for name in shared.services:
            row = rows[name]
            row["rss_idle"] = tree_rss_mib(row["pid"])
            url = shared.services[name] + LOAD_PATH
            wrk(url, connections=4, duration=1, rss_of=row["pid"])  # warm up
            row.update(
                wrk(url, connections=args.connections, duration=args.duration, rss_of=row["pid"])
            )
            direct = shared.direct[name] + LOAD_PATH
            row["direct_rps"] = wrk(
                direct, connections=args.connections, duration=args.duration, rss_of=row["pid"]
            )["rps"]
        for name in shared.services:
            queue = "catalog" if name == "python" else f"catalog.reads.{name}"
            rows[name]["events"] = apply_rate(shared, name, queue, args.events)

    print(
        f"\nGET {LOAD_PATH} through the proxy, wrk {args.duration}s x {args.connections} "
        f"connections; event burst {2 * args.events} events; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    header = (
        f"{'implementation':<14} {'LOC':>5} {'build s':>8} {'artefact MiB':>12} {'ready s':>8} "
        f"{'RSS idle':>9} {'RSS load':>9} {'p50 ms':>7} {'p99 ms':>7} {'req/s':>8} {'direct':>7} {'events/s':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, r in rows.items():
        build = f"{r['build']:.1f}" if r["build"] is not None else "-"
        print(
            f"{name:<14} {r['loc']:>5} {build:>8} {r['artefact']:>12.1f} {r['ready']:>8.2f} "
            f"{r['rss_idle']:>8.0f}M {r['rss_load']:>8.0f}M {r['p50']:>7.2f} {r['p99']:>7.2f} "
            f"{r['rps']:>8.0f} {r['direct_rps']:>7.0f} {r['events']:>9.0f}"
            + (f"  ({r['errors']} non-2xx)" if r["errors"] else "")
        )
    print(
        "\np50/p99 and req/s through the proxy (1 gunicorn worker, as the tests start it); "
        "direct: req/s with wrk straight at the implementation.\n"
        "python: LOC counts the catalog's products app (apis, selectors, serializers, models, "
        "urls, consumers, services), which also serves the writes; its artefact is the whole "
        "virtual environment (Django, DRF, servicekit's dependencies); build: none (pip install).\n"
        "Artefacts leave out the runtime: Node.js for typescript, the JRE for java and kotlin (their "
        "jar and the library jars it names; Debian's openjdk-17-jre-headless installs ~184 MiB)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
