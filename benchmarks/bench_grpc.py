"""`make bench-grpc`: the checkout quote (prices and stock of a basket's SKUs) asked of the catalog
over REST and over gRPC in one run: p50/p99 latency and CPU per call, client and server.

Starts the catalog's HTTP process (gunicorn, 1 worker, 4 threads, as the tests do) and its gRPC
server (`manage.py grpc_serve`, the Procfile's catalog-grpc) on one SQLite database of 60
products, then asks each `--calls` times, one call at a time, through servicekit's clients (the
ones the orders service uses: ServiceClient over a keep-alive pool, GrpcClient over one HTTP/2
channel; both behind a breaker). CPU per call is the process CPU time (user + system) spent
during the timed calls divided by the calls: the client is this process, the server is the
serving process and its children (gunicorn's worker). Every process it starts is stopped before
it exits.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contracts.proto.catalog.v1 import pricing_pb2, pricing_pb2_grpc  # noqa: E402
from servicekit.web.discovery.registry import StaticRegistry  # noqa: E402
from servicekit.web.grpc_client import GrpcClient  # noqa: E402
from servicekit.web.http_client import ServiceClient  # noqa: E402
from tests.support import fleet  # noqa: E402

SEED = "from tests.extracted.catalog.builders import catalog_rows; catalog_rows(60, categories=6)"
BASKET = [f"GQL-{n:04d}" for n in (3, 7, 11, 19, 42)]


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live children."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        times = proc.cpu_times()
        total += times.user + times.system
    return total


def measure(call: Callable[[], object], *, calls: int, server_pid: int) -> dict[str, float]:
    for _ in range(max(20, calls // 10)):  # warm: connections, caches, the server's threads
        call()
    me = psutil.Process()
    client_before, server_before = sum(me.cpu_times()[:2]), tree_cpu(server_pid)
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - started)
    client = sum(me.cpu_times()[:2]) - client_before
    server = tree_cpu(server_pid) - server_before
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "client_cpu_ms": client / calls * 1000,
        "server_cpu_ms": server / calls * 1000,
    }


def run(calls: int) -> dict[str, dict[str, float]]:
    """Both transports measured against one catalog (HTTP and gRPC processes), then stopped."""
    with tempfile.TemporaryDirectory(prefix="bench-grpc-") as tmp:
        http = fleet.catalog(Path(tmp), setup=[["shell", "-c", SEED]])
        with http, fleet.CatalogGrpc(http, env={"LOG_LEVEL": "WARNING"}) as grpc_server:
            rest = ServiceClient("catalog", registry=StaticRegistry({"catalog": [http.url]}))
            path = "/api/v1/catalog/quote/?" + urlencode([("sku", s) for s in BASKET])
            over_grpc = GrpcClient("catalog", target=grpc_server.target)
            stub = pricing_pb2_grpc.PricingStub(over_grpc.channel)
            request = pricing_pb2.QuoteSkusRequest(skus=BASKET)

            def rest_call() -> object:
                response = rest.get(path, headers={"X-Request-ID": "bench"})
                assert response.status == 200, response.status
                return response.json()

            def grpc_call() -> object:
                return over_grpc.call(stub.QuoteSkus, request, idempotent=True, request_id="bench")

            assert len(rest_call()["quotes"]) == len(grpc_call().quotes) == len(BASKET)
            try:
                return {
                    "REST (JSON over HTTP/1.1)": measure(
                        rest_call, calls=calls, server_pid=http.process.pid
                    ),
                    "gRPC (protobuf over HTTP/2)": measure(
                        grpc_call, calls=calls, server_pid=grpc_server.process.pid
                    ),
                }
            finally:
                over_grpc.close()


def main(argv: list[str]) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--calls", type=int, default=1000, help="timed calls per transport")
    calls = options.parse_args(argv).calls
    results = run(calls)
    print(f"\nthe checkout quote of {len(BASKET)} SKUs, {calls} sequential calls each")
    print(f"{'transport':<30}{'p50 ms':>9}{'p99 ms':>9}{'client CPU ms':>15}{'server CPU ms':>15}")
    for name, r in results.items():
        print(
            f"{name:<30}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
            f"{r['client_cpu_ms']:>15.3f}{r['server_cpu_ms']:>15.3f}"
        )
    print("CPU per call: user + system seconds of the process (and children) over the timed calls.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
