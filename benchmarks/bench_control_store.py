"""`python benchmarks/bench_control_store.py`: how long a route flip takes on the shared store.

Needs Redis (REDIS_URL, default the local server). Starts N replica processes (default 3), each
following the route table with the proxy's own TableSource, under a key prefix of its own
(deleted afterwards), then times K flips (default 50) through `route_update`: the
compare-and-set write, the push, every replica swapping its table and reporting the version.
Prints p50, p99 and max in milliseconds.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from servicekit.web.control_store import ControlSettings, control_document  # noqa: E402

ROUTES = """\
version: 1
default_upstream: monolith
upstreams:
  monolith: {instances: ["http://127.0.0.1:9"]}
  svc: {instances: ["http://127.0.0.1:9"]}
routes:
  - {name: r, prefix: /, mode: monolith, upstream: svc}
"""


def replica(seed: str, settings: ControlSettings, stop) -> None:
    from strangler_proxy.routes.source import TableSource

    document = control_document("routes", seed, settings=settings)
    TableSource(seed, document=document)  # follows and acks from its own thread
    stop.wait()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--flips", type=int, default=50)
    args = parser.parse_args(argv)
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    settings = ControlSettings(store=url, prefix=f"bench-{uuid.uuid4().hex[:8]}", wait=30)
    folder = Path(tempfile.mkdtemp(prefix="bench-control-"))
    seed = folder / "routes.yaml"
    seed.write_text(ROUTES)
    document = control_document("routes", seed, settings=settings)
    document.fetch()  # seeded before the replicas start
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    children = [
        context.Process(target=replica, args=(str(seed), settings, stop))
        for _ in range(args.replicas)
    ]
    for child in children:
        child.start()
    try:
        while len(document.replicas()) < args.replicas:
            time.sleep(0.05)
        from strangler_proxy.routes.file import route_update

        took = []
        for i in range(args.flips):
            started = time.perf_counter()
            applied = route_update(
                document, "r", {"mode": "extracted" if i % 2 == 0 else "monolith"}
            )
            took.append((time.perf_counter() - started) * 1000)
            assert len(applied.acked) == args.replicas, applied
        took.sort()
        p99 = took[min(len(took) - 1, int(len(took) * 0.99))]
        print(
            f"route flip, write to {args.replicas} replicas applied ({args.flips} flips): "
            f"p50 {statistics.median(took):.1f} ms, p99 {p99:.1f} ms, max {took[-1]:.1f} ms"
        )
    finally:
        stop.set()
        for child in children:
            child.join(10)
            if child.is_alive():
                child.kill()
        client = document.store.client
        for key in client.scan_iter(match=f"{settings.prefix}:*"):
            client.delete(key)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
