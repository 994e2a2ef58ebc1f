"""`make bench-grpc`: the checkout quote (prices and stock of a basket's SKUs) asked of the catalog
over REST and over gRPC in one run: p50/p99 latency and CPU per call, client and server.

Starts the catalog's HTTP process (gunicorn, 1 worker, 4 threads, as the tests do) and its gRPC
server (`manage.py grpc_serve`, the Procfile's catalog-grpc) on one SQLite database of 60
products, then asks each `--calls` times, one call at a time, as the orders service asks:
through servicekit's clients (REST: `POST /api/v1/catalog/quote/` with `{"sku": [...]}` through
ServiceClient over a keep-alive pool; gRPC: GrpcClient over one HTTP/2 channel; both behind a
breaker). CPU per call is the process CPU time (user + system) spent
during the timed calls divided by the calls: the client is this process, the server is the
serving process and its children (gunicorn's worker). Every process it starts is stopped before
it exits.

`--mtls` adds what mTLS inside (docs/mtls.md) costs: a second HTTP process and gRPC server on the
same database, serving as `STRANGLER_MTLS=on` makes them (client certificate required), asked
through the same clients presenting the orders certificate, and the quote over REST on a new
connection every call, plain and under mTLS: the price of the handshake.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import urllib3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contracts.proto.catalog.v1 import pricing_pb2, pricing_pb2_grpc  # noqa: E402
from servicekit.web.discovery.registry import StaticRegistry  # noqa: E402
from servicekit.web.grpc_client import GrpcClient  # noqa: E402
from servicekit.web.http_client import ServiceClient  # noqa: E402
from servicekit.web.tls import client_context, gunicorn_args  # noqa: E402
from servicekit.web.tls.ca import ca_init, identity_issue  # noqa: E402
from servicekit.web.tls.grpc_credentials import secure_channel  # noqa: E402
from tests.support import fleet  # noqa: E402
from tests.support.processes import free_port, stop_process  # noqa: E402
from tests.support.wait import wait_for  # noqa: E402

SEED = "from tests.extracted.catalog.builders import catalog_rows; catalog_rows(60, categories=6)"
BASKET = [f"GQL-{n:04d}" for n in (3, 7, 11, 19, 42)]
# Seconds a gRPC server may take to answer its health check: Django and grpc imported on a
# machine busy with other work (over 30 s seen at load average 18 on 2 cores).
START_TIMEOUT = 120
# The rows `run` returns.
REST = "REST (JSON over HTTP/1.1)"
GRPC = "gRPC (protobuf over HTTP/2)"
REST_MTLS = "REST over mTLS"
GRPC_MTLS = "gRPC over mTLS"
REST_NEW = "REST, new connection a call"
REST_MTLS_NEW = "REST over mTLS, new connection"


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


@contextlib.contextmanager
def mtls_http(http: fleet.DjangoService, tls: dict[str, str]):
    """The catalog's HTTP process again, on the same database, under gunicorn's mTLS flags."""
    port = free_port()
    command = [*http.serve_command(port), *gunicorn_args("catalog", environ=tls)]
    process = subprocess.Popen(command, cwd=fleet.ROOT, env={**http.env, **tls})
    url = f"https://127.0.0.1:{port}"
    pool = urllib3.PoolManager(ssl_context=client_context("orders", environ=tls))
    try:
        wait_for(
            lambda: pool.request("GET", f"{url}/healthz", retries=False).status == 200,
            timeout=START_TIMEOUT,
            what="the catalog over mTLS",
            ignore=(urllib3.exceptions.HTTPError,),
        )
        yield url, process
    finally:
        pool.clear()
        stop_process(process)


@contextlib.contextmanager
def catalog_servers(tmp: str):
    """The catalog's HTTP process and its gRPC server on one database of 60 products (the
    basket's among them), on free ports; stopped on exit. `make cost` measures on them too."""
    http = fleet.catalog(Path(tmp), setup=[["shell", "-c", SEED]])
    grpc_server = fleet.CatalogGrpc(http, env={"LOG_LEVEL": "WARNING"}, timeout=START_TIMEOUT)
    with http, grpc_server:
        yield http, grpc_server


QUOTE_PATH = "/api/v1/catalog/quote/"


def quote_body() -> bytes:
    """What the orders service POSTs (extracted/orders/orders/catalog_gateway.py)."""
    return json.dumps({"sku": BASKET}).encode()


def quote_request() -> pricing_pb2.QuoteSkusRequest:
    return pricing_pb2.QuoteSkusRequest(skus=BASKET)


def measure_transports(http, grpc_server, *, calls: int) -> dict[str, dict[str, float]]:
    """The quote over REST and over gRPC, `calls` times each, through the services' clients."""
    return {
        REST: measure(rest_caller(http.url, QUOTE_PATH), calls=calls, server_pid=http.process.pid),
        GRPC: measure(
            grpc_caller(GrpcClient("catalog", target=grpc_server.target), quote_request()),
            calls=calls,
            server_pid=grpc_server.process.pid,
        ),
    }


def run(calls: int, *, mtls: bool = False) -> dict[str, dict[str, float]]:
    """Both transports measured against one catalog (HTTP and gRPC processes), then stopped;
    with `mtls`, under mTLS too, and REST on a new connection a call, plain and under mTLS."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-grpc-") as tmp,
        catalog_servers(tmp) as (http, grpc_server),
    ):
        results = measure_transports(http, grpc_server, calls=calls)
        if mtls:
            results |= measure_mtls(http, calls=calls, tmp=tmp)
        return results


def rest_caller(url: str, path: str, *, pool: urllib3.PoolManager | None = None):
    rest = ServiceClient("catalog", registry=StaticRegistry({"catalog": [url]}), pool_manager=pool)

    def rest_call() -> object:
        response = rest.post(
            path, json={"sku": BASKET}, headers={"X-Request-ID": "bench"}, retry=True
        )
        assert response.status == 200, response.status
        quotes = response.json()["quotes"]
        assert len(quotes) == len(BASKET), quotes
        return quotes

    return rest_call


def grpc_caller(client: GrpcClient, request: pricing_pb2.QuoteSkusRequest):
    stub = pricing_pb2_grpc.PricingStub(client.channel)

    def grpc_call() -> object:
        answer = client.call(stub.QuoteSkus, request, idempotent=True, request_id="bench")
        assert len(answer.quotes) == len(BASKET), answer
        return answer

    return grpc_call


def new_connection_caller(url: str, context=None):
    """The quote on a new connection every call (TCP, and TLS when `context`), then closed."""

    def call() -> object:
        pool = urllib3.PoolManager(ssl_context=context) if context else urllib3.PoolManager()
        try:
            response = pool.request(
                "POST",
                url,
                body=quote_body(),
                retries=False,
                headers={"X-Request-ID": "bench", "Content-Type": "application/json"},
            )
            assert response.status == 200, response.status
            return response.data
        finally:
            pool.clear()

    return call


def measure_mtls(http, *, calls: int, tmp: str) -> dict[str, dict]:
    """Beside `http` (a running catalog), its HTTP process and a gRPC server under mTLS on the
    same database, asked as the orders service; and REST on a new connection a call, plain and
    under mTLS. The CA and certificates go to `tmp`/tls."""
    path, request = QUOTE_PATH, quote_request()
    tls = {"STRANGLER_TLS_DIR": str(Path(tmp) / "tls")}
    ca_init(environ=tls)
    for name in ("catalog", "orders"):
        identity_issue(name, environ=tls)
    context = client_context("orders", environ=tls)
    grpc_env = {"LOG_LEVEL": "WARNING", "STRANGLER_MTLS": "on", **tls}
    with (
        mtls_http(http, tls) as (url, process),
        fleet.CatalogGrpc(http, env=grpc_env, timeout=START_TIMEOUT) as server,
    ):
        channel = secure_channel(server.target, server_name="catalog", name="orders", environ=tls)
        over_grpc = GrpcClient("catalog", target=server.target, channel=channel)
        return {
            REST_MTLS: measure(
                rest_caller(url, path, pool=urllib3.PoolManager(ssl_context=context)),
                calls=calls,
                server_pid=process.pid,
            ),
            GRPC_MTLS: measure(
                grpc_caller(over_grpc, request), calls=calls, server_pid=server.process.pid
            ),
            REST_NEW: measure(
                new_connection_caller(f"{http.url}{path}"),
                calls=calls,
                server_pid=http.process.pid,
            ),
            REST_MTLS_NEW: measure(
                new_connection_caller(f"{url}{path}", context),
                calls=calls,
                server_pid=process.pid,
            ),
        }


def main(argv: list[str]) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--calls", type=int, default=1000, help="timed calls per transport")
    options.add_argument("--mtls", action="store_true", help="the same under mTLS, and handshakes")
    args = options.parse_args(argv)
    calls = args.calls
    results = run(calls, mtls=args.mtls)
    print(f"\nthe checkout quote of {len(BASKET)} SKUs, {calls} sequential calls each")
    print(f"{'transport':<32}{'p50 ms':>9}{'p99 ms':>9}{'client CPU ms':>15}{'server CPU ms':>15}")
    for name, r in results.items():
        print(
            f"{name:<32}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
            f"{r['client_cpu_ms']:>15.3f}{r['server_cpu_ms']:>15.3f}"
        )
    print("CPU per call: user + system seconds of the process (and children) over the timed calls.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
