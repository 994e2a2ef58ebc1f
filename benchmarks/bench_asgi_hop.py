"""The ASGI adapter's cost per request, per event loop and request mode:
`python benchmarks/bench_asgi_hop.py`.

Drives `strangler_proxy.edge.asgi.WsgiOverAsgi` in-process with a trivial WSGI application (no
server, no proxy code): what is left is building the environ and running the application, in
`threads` mode by a hand-off of each request to a pool thread and back (which wakes the event
loop from another thread), in `cooperative` mode in a greenlet on the loop's own thread
(`STRANGLER_PROXY_REQUESTS`). Runs asyncio's own loop and uvloop (granian's workers' loop,
`STRANGLER_PROXY_LOOP`) with threads, and uvloop cooperative, in alternating child processes, and
prints the median CPU and wall µs per request of each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


CONFIGS = ("asyncio threads", "uvloop threads", "uvloop cooperative")


def measure(config: str, requests: int) -> tuple[float, float]:
    from strangler_proxy.edge.asgi import WsgiOverAsgi

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    loop_name, mode = config.split()
    adapter = WsgiOverAsgi(app, threads=4, requests=mode)
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/p",
        "raw_path": b"/p",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"shop"), (b"user-agent", b"wrk"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        return None

    async def run() -> tuple[float, float]:
        for _ in range(200):
            await adapter(scope, receive, send)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(requests):
            await adapter(scope, receive, send)
        return (
            (time.process_time() - cpu) * 1e6 / requests,
            (time.perf_counter() - wall) * 1e6 / requests,
        )

    if loop_name == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(run())
    finally:
        adapter.pool.shutdown()
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", choices=CONFIGS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.requests)))
        return
    figures: dict[str, list[tuple[float, float]]] = {config: [] for config in CONFIGS}
    for _ in range(args.rounds):  # alternating: a noisy spell hits both
        for name in figures:
            out = subprocess.run(
                [sys.executable, __file__, "--child", name, "--requests", str(args.requests)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            figures[name].append(tuple(json.loads(out)))
    print(f"WsgiOverAsgi, trivial application, medians of {args.rounds} rounds")
    for name, values in figures.items():
        cpu = statistics.median(v[0] for v in values)
        wall = statistics.median(v[1] for v in values)
        print(f"{name:18s} CPU {cpu:6.1f} us/request   wall {wall:6.1f} us/request")


if __name__ == "__main__":
    main()
