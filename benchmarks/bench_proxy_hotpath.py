"""`make bench-proxy-hotpath`: the Python proxy's own CPU per proxied request, old code beside new.

Wall-clock req/s on a shared 2-core machine moves with the neighbours' load; what the proxy
itself spends per request does not. This drives the proxy's WSGI application
(`strangler_proxy.wsgi:application`, the app gunicorn and granian serve) in-process, with the
environ a server builds for a client's GET, against a canned upstream in another process (real
sockets, the proxy's own keep-alive client), and measures the CPU time of the calling thread
per request, in rounds that alternate between this checkout and a base commit (`--base`, a
`git worktree` made for the run and removed after). The server's own cost (gunicorn's HTTP
parser, granian's) is not in it: `make bench-proxy` measures the whole.

`--callgrind` counts instructions instead (valgrind: deterministic, ~50x slower): two runs
per checkout with different request counts, the difference divided by the difference.

`--redis URL` runs the proxy with `REDIS_URL` set (breaker state and rate limits in Redis, as
compose deploys it); `--clock wall` measures wall time instead of CPU (what a Redis round trip
costs is mostly waiting).

Prints, per configuration (access log off as `make bench-proxy` runs it; on, as deployed, to
a discarded stream), µs of CPU per request for each checkout and the ratio old/new.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATH = "/api/v1/products/7/"
BODY = (
    b'{"id":7,"sku":"SKU-0001","name":"Widget","price":"9.99","currency":"EUR",'
    b'"stock":42,"tags":["blue","small","sale"]}'
)
# What a Django/DRF service behind the proxy answers (SecurityMiddleware, request id, Vary).
ANSWER = (
    b"HTTP/1.1 200 OK\r\n"
    b"Server: gunicorn\r\n"
    b"Date: Thu, 03 Dec 2026 04:20:12 GMT\r\n"
    b"Connection: keep-alive\r\n"
    b"Content-Type: application/json\r\n"
    b"Vary: Accept, Cookie\r\n"
    b"Allow: GET, HEAD, OPTIONS\r\n"
    b"X-Frame-Options: DENY\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n"
    b"X-Content-Type-Options: nosniff\r\n"
    b"Referrer-Policy: same-origin\r\n"
    b"Cross-Origin-Opener-Policy: same-origin\r\n"
    b"X-Request-ID: 0f1e2d3c4b5a69788796a5b4c3d2e1f0\r\n"
    b"\r\n" + BODY
)
# What a client sends (an API client through a browser-ish stack; wrk sends only Host).
CLIENT_HEADERS = {
    "HTTP_HOST": "shop.example.com",
    "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "HTTP_ACCEPT": "application/json",
    "HTTP_ACCEPT_LANGUAGE": "en-GB,en;q=0.5",
    "HTTP_ACCEPT_ENCODING": "gzip, deflate, br",
    "HTTP_CONNECTION": "keep-alive",
    "HTTP_COOKIE": "csrftoken=Yx3uTr9Wq0pLmN4bV6cX8zA1sD2fG5hJ; theme=dark",
    "HTTP_REFERER": "https://shop.example.com/products/",
}
CONFIGS = {"access log off": "false", "access log on": "true"}


# --- the canned upstream (a process of its own) ---------------------------------------------


def serve_upstream(port: int) -> None:
    listener = socket.create_server(("127.0.0.1", port))

    def answer(conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                _, _, buf = buf.partition(b"\r\n\r\n")
                conn.sendall(ANSWER)

    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=answer, args=(conn,), daemon=True).start()


# --- the driver (a process per checkout, its strangler_proxy first on sys.path) -------------


def environ(port: int) -> dict:
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": PATH,
        "QUERY_STRING": "",
        "RAW_URI": PATH,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(port),
        "SERVER_SOFTWARE": "gunicorn/23.0.0",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.errors": sys.stderr,
        **CLIENT_HEADERS,
    }


def drive(requests: int, rounds: int, warmup: int) -> None:
    """Print one JSON list: µs of this thread's CPU per request, per round."""
    import io

    import strangler_proxy
    from strangler_proxy.wsgi import application

    here = Path(strangler_proxy.__file__).resolve()
    if not here.is_relative_to(Path.cwd().resolve()):
        raise SystemExit(f"the driver for {Path.cwd()} imported {here.parent}")

    statuses: list[str] = []

    def start_response(status, headers, exc_info=None):
        statuses.append(status)

    base = environ(8999)

    def one() -> None:
        env = dict(base)
        env["wsgi.input"] = io.BytesIO(b"")
        body = application(env, start_response)
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()

    for _ in range(warmup):
        one()
    if statuses and not statuses[-1].startswith("200"):
        raise SystemExit(f"the proxy answered {statuses[-1]}, not 200")
    clock = time.perf_counter if os.environ.get("BENCH_CLOCK") == "wall" else time.thread_time
    out = []
    for _ in range(rounds):
        started = clock()
        for _ in range(requests):
            one()
        out.append((clock() - started) * 1e6 / requests)
    if any(not s.startswith("200") for s in statuses):
        raise SystemExit(f"answers other than 200: {sorted(set(statuses))}")
    print(json.dumps(out))


# --- the runner -----------------------------------------------------------------------------


def driver_env(
    tree: Path, folder: Path, routes: Path, access_log: str, *, redis: str = "", clock: str = "cpu"
) -> dict[str, str]:
    prom = Path(tempfile.mkdtemp(prefix="prom-", dir=folder))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STRANGLER_", "PROMETHEUS_", "LOG_", "DJANGO_", "REDIS_URL"))
    }
    if redis:
        env["REDIS_URL"] = redis
    env["BENCH_CLOCK"] = clock
    env.update(
        {
            "PYTHONPATH": str(tree),
            "PYTHONHASHSEED": "0",
            "DJANGO_ENV": "test",
            "DJANGO_SETTINGS_MODULE": "strangler_proxy.settings",
            "STRANGLER_DATA_DIR": str(folder / "data"),
            "STRANGLER_ROUTES_FILE": str(routes),
            "STRANGLER_CONTROL_SERIES_STEP": "0",
            "STRANGLER_HEALTH_CHECKS": "false",
            "STRANGLER_PROXY_ACCESS_LOG": access_log,
            "PROMETHEUS_MULTIPROC_DIR": str(prom),
            "LOG_LEVEL": "INFO",
            "LOG_JSON": "true",
        }
    )
    return env


def run_driver(
    tree: Path, env: dict[str, str], requests: int, rounds: int, warmup: int, wrap=()
) -> tuple[list[float], str]:
    cmd = [
        *wrap,
        sys.executable,
        str(Path(__file__).resolve()),
        "--drive",
        "--requests",
        str(requests),
        "--rounds",
        str(rounds),
        "--warmup",
        str(warmup),
    ]
    # the access lines go to stdout or stderr: discarded, as a log shipper would take them
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"driver in {tree} failed:\n{done.stderr[-3000:]}")
    last = [line for line in done.stdout.splitlines() if line.startswith("[")][-1]
    return json.loads(last), done.stderr


_TOTAL = re.compile(r"^summary:\s+(\d+)", re.M)


def callgrind_instructions(tree: Path, env: dict, requests: int, folder: Path) -> int:
    out = (
        folder / f"callgrind.{abs(hash((str(tree), requests, env['STRANGLER_PROXY_ACCESS_LOG'])))}"
    )
    wrap = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no"]
    run_driver(tree, env, requests, 1, 20, wrap)
    return int(_TOTAL.search(out.read_text()).group(1))


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base", default="", help="the commit to compare with (default: where HEAD left main)"
    )
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per checkout (median)")
    parser.add_argument("--callgrind", action="store_true", help="count instructions instead")
    parser.add_argument(
        "--config", choices=["off", "on", "both"], default="both", help="access log off/on"
    )
    parser.add_argument("--redis", default="", metavar="URL", help="REDIS_URL for the proxy")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help="what to time")
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=300, help=argparse.SUPPRESS)
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return 0
    if args.drive:
        drive(args.requests, args.rounds, args.warmup)
        return 0

    # (here, not at the top: bench_proxy puts this checkout first on sys.path, and a driver
    # must import the checkout it was started for; until 2026-12-06 every base ran this one)
    from bench_proxy import free_port, routes_yaml  # the same table as make bench-proxy

    base = args.base or git("merge-base", "HEAD", "main")
    folder = Path(tempfile.mkdtemp(prefix="bench-hotpath-"))
    base_tree = folder / "base"
    git("worktree", "add", "--detach", "-q", str(base_tree), base)
    trees = {f"base {git('rev-parse', '--short', base)}": base_tree, "this checkout": ROOT}
    port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve-upstream", str(port)]
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        routes = folder / "routes.yaml"
        routes.write_text(routes_yaml(f"http://127.0.0.1:{port}"))
        print(
            f"GET {PATH} through strangler_proxy.wsgi:application, in-process, canned upstream; "
            f"load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        configs = {k: v for k, v in CONFIGS.items() if args.config in ("both", k.split()[-1])}
        for config, access_log in configs.items():
            if args.callgrind:
                small, large = 50, 50 + args.requests
                per = {}
                for name, tree in trees.items():
                    env = driver_env(
                        tree, folder, routes, access_log, redis=args.redis, clock=args.clock
                    )
                    diff = callgrind_instructions(
                        tree, env, large, folder
                    ) - callgrind_instructions(tree, env, small, folder)
                    per[name] = diff / (large - small)
                unit, fmt = "instructions/request", "{:>12,.0f}"
            else:
                samples: dict[str, list[float]] = {name: [] for name in trees}
                for _ in range(args.rounds):  # alternate: a noisy spell hits both checkouts
                    for name, tree in trees.items():
                        env = driver_env(
                            tree, folder, routes, access_log, redis=args.redis, clock=args.clock
                        )
                        samples[name] += run_driver(tree, env, args.requests, 1, args.warmup)[0]
                per = {name: statistics.median(values) for name, values in samples.items()}
                unit = f"µs {'wall' if args.clock == 'wall' else 'CPU'}/request (median of rounds)"
                fmt = "{:>12.1f}"
            print(f"\n{config}: {unit}")
            for name, value in per.items():
                print(f"  {name:<40} " + fmt.format(value))
            old, new = per.values()
            print(f"  ratio base/this checkout: {old / new:.2f}x")
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)
        git("worktree", "remove", "--force", str(base_tree))
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
