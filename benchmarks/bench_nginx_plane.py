"""`python benchmarks/bench_nginx_plane.py`: what the nginx plane's own configuration costs nginx
per request, beside plain nginx proxying, with no Python upstream to drown it.

`make bench-proxy` puts both in front of the same DRF upstream, which spends ~300-450 µs of CPU
per request on the two cores they share: the plane's share of plain nginx's req/s then moves by
more than the plane itself costs (75-114 % over the rounds of one run on a busy day). Here the
upstream is an nginx that answers at once, each front has one worker, and what is measured is
the front's own CPU per request (user + system, from /proc) under wrk at 16 connections, the
variants in turn, round after round:

- `nginx`: plain proxying (bench_proxy.py's `nginx_conf`: keep-alive, Host, X-Forwarded-For);
- `plane`: the configuration `python -m strangler_proxy export nginx` makes from
  bench_proxy.py's route table (refusals, route map, request ids, forwarding headers), access
  log off as there;
- `plane-no-jit`: the same without its `pcre_jit on;` (nginx's default), to see what compiling
  the regexes saves.

Prints the median CPU µs per request and req/s of each, and the plane's extra µs over plain
nginx. Installs wrk and nginx (Debian) when missing, as bench_proxy.py does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

# (bench_proxy puts the checkout on sys.path: strangler_proxy and tests.support import from it)
from bench_proxy import (
    PATH,
    cpu_seconds,
    ensure_tools,
    free_port,
    nginx_conf,
    plane_conf,
    routes_yaml,
    wait_ready,
    wrk,
)

ANSWER = '{"id":7,"sku":"SKU-0001","name":"Widget","price":"9.99","currency":"EUR","stock":42}'
_TEMP_PATHS = (
    "client_body_temp_path body; proxy_temp_path proxy; fastcgi_temp_path fastcgi; "
    "uwsgi_temp_path uwsgi; scgi_temp_path scgi;"
)


def _main_context(port: int, http: str) -> str:
    return textwrap.dedent(f"""
        worker_processes 1;
        pid nginx.pid;
        error_log error.log warn;
        events {{ worker_connections 1024; }}
        http {{
            access_log off;
            {_TEMP_PATHS}
            {http}
        }}
    """).replace("LISTEN", f"127.0.0.1:{port}")


def upstream_conf(port: int) -> str:
    return _main_context(
        port,
        "server { listen LISTEN; keepalive_requests 1000000; location / { "
        f"default_type application/json; return 200 '{ANSWER}'; }} }}",
    )


def route_table(upstream: int, folder: Path):
    """bench_proxy.py's route table, its upstream the answering nginx."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strangler_proxy.settings")
    os.environ.setdefault("STRANGLER_DATA_DIR", str(folder / "data"))
    from strangler_proxy.routes.load import load_table

    routes = folder / "routes.yaml"
    routes.write_text(routes_yaml(f"http://127.0.0.1:{upstream}"))
    return load_table(routes)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="each variant this many times")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    args = parser.parse_args(argv)
    ensure_tools()
    folder = Path(tempfile.mkdtemp(prefix="bench-nginx-plane-"))
    ports = {name: free_port() for name in ("upstream", "nginx", "plane", "plane-no-jit")}
    table = route_table(ports["upstream"], folder)
    plane = plane_conf(table, ports["plane"], 1)
    if "pcre_jit on;" not in plane:
        raise SystemExit("the exported configuration no longer turns pcre_jit on")
    confs = {
        "upstream": upstream_conf(ports["upstream"]),
        # plain proxying as make bench-proxy serves it
        "nginx": nginx_conf(folder / "nginx", ports["nginx"], ports["upstream"], 1).read_text(),
        "plane": plane,
        "plane-no-jit": plane_conf(table, ports["plane-no-jit"], 1).replace("pcre_jit on;", ""),
    }
    processes: dict[str, subprocess.Popen] = {}
    try:
        for name, text in confs.items():
            prefix = folder / name
            prefix.mkdir(exist_ok=True)
            (prefix / "nginx.conf").write_text(text)
            processes[name] = subprocess.Popen(
                ["nginx", "-c", str(prefix / "nginx.conf"), "-p", str(prefix), "-g", "daemon off;"]
            )
        fronts = ["nginx", "plane", "plane-no-jit"]
        for name in ["upstream", *fronts]:
            wait_ready(f"http://127.0.0.1:{ports[name]}{PATH}", processes[name])
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in fronts}
        for _ in range(args.rounds):
            for name in fronts:  # in turn: a noisy spell hits every variant alike
                url = f"http://127.0.0.1:{ports[name]}{PATH}"
                wrk(url, 4, 1)
                before = cpu_seconds(processes[name].pid)
                run = wrk(url, 16, args.duration)
                spent = cpu_seconds(processes[name].pid) - before
                if run["errors"]:
                    raise SystemExit(f"{name}: {run['errors']:.0f} answers were not 2xx or 3xx")
                samples[name].append((1e6 * spent / max(run["requests"], 1), run["rps"]))
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(timeout=15)
        shutil.rmtree(folder, ignore_errors=True)
    medians = {
        name: (statistics.median(c for c, _ in runs), statistics.median(r for _, r in runs))
        for name, runs in samples.items()
    }
    print(
        f"\nGET {PATH}: one nginx worker per front, in front of an nginx that answers at once; "
        f"wrk {args.duration} s at 16 connections, {args.rounds} rounds, medians; load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(f"{'front':<14} {'CPU µs/req':>10} {'req/s':>9}")
    for name, (cpu, rps) in medians.items():
        print(f"{name:<14} {cpu:>10.1f} {rps:>9.0f}")
    plain, jit, no_jit = medians["nginx"][0], medians["plane"][0], medians["plane-no-jit"][0]
    print(
        f"the plane costs nginx {jit - plain:+.1f} µs per request over plain proxying "
        f"({no_jit - plain:+.1f} without pcre_jit)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
