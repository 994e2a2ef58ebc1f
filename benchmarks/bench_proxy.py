"""`make bench-proxy`: req/s and p50/p99 direct, through our proxy, nginx and django-revproxy.

`nginx-plane` is nginx serving the configuration `python -m strangler_proxy export nginx` makes
from the same routes file (access log off, as for plain nginx); its ratios to plain nginx are
printed with the issue-16 targets.

Starts, on loopback and in one run: a fixed DRF upstream, the strangler proxy (routing,
correlation id, metrics, breaker on; auth off) under gunicorn, granian and uvicorn
(`STRANGLER_PROXY_SERVER`), nginx (the physical-limit reference) and
django-revproxy, all under the same gunicorn settings; measures each with wrk at 1 and at 16
connections and prints the table with ratios to direct. `--base REF` also serves the proxy
from another commit (a `git worktree`: `proxy-base` under gunicorn, `proxy-granian-base` under
granian, `proxy-uvicorn-base` under uvicorn) beside this checkout's, and `--rounds N`
measures every target N times in turn and prints medians: on a shared machine, old and new code
compared in one run. The issue-16 comparisons are measured interleaved in each round: a
target and its reference (plain nginx for a share of its req/s at 16 connections; direct, or
plain nginx for the plane, for the latency added at 1) in `--slice`-second wrk runs, reference,
target, target, reference (`abba`), and the median of the rounds' ratios is printed with each
round's. The DRF upstream is one gunicorn per core on one port (SO_REUSEPORT): behind one
gunicorn of two workers, one worker could take all 16 connections of a run. Installs wrk and
nginx (Debian) and django-revproxy (PyPI) when missing. Every process it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

from tests.support.processes import cpu_seconds, free_port  # noqa: E402

PATH = "/api/v1/products/7/"


def routes_yaml(upstream_url: str) -> str:
    """The table every proxy here serves: four routes, the product one a typed pattern."""
    return textwrap.dedent(f"""
        version: 1
        default_upstream: monolith
        upstreams:
          monolith:
            instances: ["{upstream_url}"]
            timeout: {{connect: 2, read: 10}}
            retry: {{attempts: 2, backoff: 0.05}}
            breaker: {{fail_max: 50, reset_timeout: 10}}
            max_concurrent: 200
        routes:
          - {{name: jwks, prefix: /.well-known/jwks.json, methods: [GET, HEAD]}}
          - {{name: product-detail, pattern: "/api/v1/products/<int:pk>/", methods: [GET, HEAD]}}
          - {{name: api, prefix: /api/}}
          - {{name: storefront, prefix: /}}
    """)


def ensure_tools() -> None:
    missing = [
        pkg
        for tool, pkg in (("wrk", "wrk"), ("nginx", "nginx-light"))
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists()
    ]
    if missing:
        print(f"installing {' '.join(missing)} (apt-get)", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)
    try:
        import revproxy  # noqa: F401
    except ImportError:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "django-revproxy"], check=True
        )


def wait_ready(url: str, process: subprocess.Popen | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


def gunicorn(
    app: str, port: int, env: dict[str, str], workers: int, threads: int, extra=()
) -> list[str]:
    return [
        str(BIN / "gunicorn"),
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--log-level",
        "warning",
        "--keep-alive",
        "15",
        *extra,
    ]


# What the nginx plane and the Python proxy send an upstream besides plain nginx's Host and
# X-Forwarded-For (a request id, and the scheme and host the client used).
PLANE_HEADERS = {
    "X-Request-ID": "$request_id",
    "X-Forwarded-Proto": "$scheme",
    "X-Forwarded-Host": "$http_host",
}


def nginx_conf(
    folder: Path, port: int, upstream_port: int, workers: int, headers: dict[str, str] | None = None
) -> Path:
    """Plain nginx proxying to the upstream (keep-alive, Host, X-Forwarded-For), and `headers`
    set as well."""
    folder.mkdir(parents=True, exist_ok=True)
    extra = "".join(f"proxy_set_header {k} {v}; " for k, v in (headers or {}).items())
    conf = folder / "nginx.conf"
    conf.write_text(
        textwrap.dedent(f"""
        worker_processes {workers};
        pid {folder}/nginx.pid;
        error_log {folder}/nginx-error.log warn;
        events {{ worker_connections 1024; }}
        http {{
            access_log off;
            client_body_temp_path {folder}/body;
            proxy_temp_path {folder}/proxy;
            fastcgi_temp_path {folder}/fastcgi;
            uwsgi_temp_path {folder}/uwsgi;
            scgi_temp_path {folder}/scgi;
            upstream app {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
            server {{
                listen 127.0.0.1:{port};
                location / {{
                    proxy_pass http://app;
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                    proxy_set_header Host $http_host;
                    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                    {extra}
                }}
            }}
        }}
    """)
    )
    return conf


_LAT = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_TOTAL = re.compile(r"(\d+) requests in")


def wrk(url: str, connections: int, duration: int) -> dict[str, float]:
    threads = min(connections, 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    lat = {p: float(v) * scale[u] for p, v, u in _LAT.findall(out)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(_RPS.search(out).group(1)),
        "p50": lat.get("50", float("nan")),
        "p99": lat.get("99", float("nan")),
        "errors": float(errors.group(1)) if errors else 0.0,
        "requests": float(_TOTAL.search(out).group(1)),
    }


# The targets whose req/s at 16 connections is printed as a share of plain nginx's (issue 16).
COMPARED_TO_NGINX = ("proxy", "proxy-granian", "proxy-uvicorn", "nginx-plane", "nginx-headers")


# Seconds of one wrk run in an interleaved pair (`--slice`): the load from the machine's
# neighbours comes and goes over seconds. Each side's turn starts with an unmeasured second
# (the Python proxy drops upstream connections idle for a second, so a turn of its own would
# start with new ones where nginx's kept theirs).
SLICE = 4


def plane_conf(table, port: int, workers: int) -> str:
    """The nginx plane's configuration (`python -m strangler_proxy export nginx`) for `table`,
    listening on `port`, access log off as for plain nginx."""
    from strangler_proxy.export.nginx import NginxOptions, render

    options = NginxOptions(
        listen=f"127.0.0.1:{port}", worker_processes=str(workers), access_log=False
    )
    return render(table, options)


def references(wanted: list[str], connections: int) -> dict[str, str]:
    """Which target is measured interleaved with which reference (issue 16's comparisons): at
    16 connections each of COMPARED_TO_NGINX with plain nginx (its share of nginx's req/s); at
    1 connection the plane (and nginx-headers) with plain nginx, and the Python proxies with
    direct (the latency each adds)."""
    if connections == 1:
        pairs = {name: "direct" for name in ("proxy", "proxy-granian", "proxy-uvicorn")}
        pairs.update({"nginx-plane": "nginx", "nginx-headers": "nginx"})
    else:
        pairs = dict.fromkeys(COMPARED_TO_NGINX, "nginx")
    return {name: ref for name, ref in pairs.items() if name in wanted and ref in wanted}


def abba(slices: int) -> list[int]:
    """Which side runs in each slice of an interleaved pair (0: the reference, 1: the target):
    0 1 1 0 0 1 1 0 ..., `slices` of each side: a load that rises or falls linearly over the
    pair costs both sides alike, and a spell of seconds falls on both within a few slices."""
    return [(i + 1) // 2 % 2 for i in range(2 * slices)]


def combined(runs: list[dict[str, float]]) -> dict[str, float]:
    """One run from several slices of it: req/s the requests over the seconds, CPU per request
    the CPU over the requests, errors and requests summed, p50/p99 the slices' median."""
    requests = sum(r["requests"] for r in runs)
    seconds = sum(r["requests"] / r["rps"] for r in runs if r["rps"])
    out = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    out["requests"] = requests
    out["errors"] = sum(r["errors"] for r in runs)
    out["rps"] = requests / seconds if seconds else 0.0
    for key in ("cpu_us", "upstream_cpu_us"):
        if key in runs[0]:
            out[key] = sum(r[key] * r["requests"] for r in runs) / max(requests, 1)
    return out


def paired_share(
    rounds: dict[str, list[dict[int, dict[str, float]]]], name: str
) -> tuple[float, list[float]]:
    """`name`'s req/s at 16 connections over plain nginx's, round by round, and the median of
    those ratios. In each round the two were measured interleaved (`abba`), and `reference_rps`
    is plain nginx's req/s over its slices of that pair: the machine's neighbours move both
    sides of a ratio alike, where runs seconds apart can meet a busy spell on one side only."""
    each = [run[16]["rps"] / run[16]["reference_rps"] for run in rounds[name]]
    return statistics.median(each), each


def paired_added(
    rounds: dict[str, list[dict[int, dict[str, float]]]], name: str
) -> tuple[float, list[float]]:
    """The p50 latency `name` adds at 1 connection over its reference (`references`), in ms,
    round by round (the two measured interleaved), and the median of those differences."""
    each = [run[1]["p50"] - run[1]["reference_p50"] for run in rounds[name]]
    return statistics.median(each), each


def cpu_of(processes: list[subprocess.Popen]) -> float:
    """User + system seconds of these processes and their descendants."""
    return sum(cpu_seconds(process.pid) for process in processes)


def _rounds_text(median: float, each: list[float], form: str, unit: str) -> str:
    """`median` in `form` with `unit`, and each round's value when there are several."""
    text = f"{median:{form}}{unit}"
    if len(each) == 1:
        return text
    return f"{text} (rounds: {', '.join(f'{r:{form}}' for r in each)})"


def _share_text(share: tuple[float, list[float]]) -> str:
    median, each = share
    return _rounds_text(100 * median, [100 * r for r in each], ".1f", " %")


def _added_text(added: tuple[float, list[float]]) -> str:
    return _rounds_text(*added, "+.2f", " ms")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--only",
        nargs="*",
        help="subset of: proxy proxy-granian proxy-uvicorn nginx nginx-plane revproxy (direct, "
        "the baseline every ratio needs, is always measured); also "
        "proxy-granian-wsgi (granian's own WSGI interface, which loses the raw target: "
        "only to see what the ASGI adapter costs) and nginx-headers (plain nginx that also sends "
        "the request id and X-Forwarded-Proto/-Host the plane and the proxy send: what those "
        "headers cost the upstream)",
    )
    parser.add_argument(
        "--base",
        default="",
        help="also serve the proxy from this commit (a git worktree), as `proxy-base` "
        "(gunicorn), `proxy-granian-base` and `proxy-uvicorn-base`: old and new code measured "
        "in one run",
    )
    parser.add_argument(
        "--slice",
        type=int,
        default=SLICE,
        help="seconds per wrk run when a target and its reference are measured interleaved "
        "(issue 16's comparisons; --duration seconds of each in all)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every target this many times, in turn; the median is printed",
    )
    args = parser.parse_args(argv)
    ensure_tools()

    folder = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    ports = {
        name: free_port()
        for name in (
            "upstream",
            "proxy",
            "proxy-base",
            "proxy-granian",
            "proxy-granian-base",
            "proxy-granian-wsgi",
            "proxy-uvicorn",
            "proxy-uvicorn-base",
            "nginx",
            "nginx-headers",
            "nginx-plane",
            "revproxy",
        )
    }
    upstream_url = f"http://127.0.0.1:{ports['upstream']}"
    routes = folder / "routes.yaml"
    routes.write_text(routes_yaml(upstream_url))
    base_env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'benchmarks'}",
        "DJANGO_ENV": "test",
        "STRANGLER_DATA_DIR": str(folder / "data"),
        "LOG_LEVEL": "WARNING",
    }
    processes: list[subprocess.Popen] = []
    # target -> the processes serving it (their CPU is counted)
    served: dict[str, list[subprocess.Popen]] = {}

    def start(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.Popen:
        log = open(folder / f"{len(processes)}.log", "wb")  # noqa: SIM115 - lives with the process
        process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        processes.append(process)
        return process

    targets = {
        "direct": f"{upstream_url}{PATH}",
        "proxy": f"http://127.0.0.1:{ports['proxy']}{PATH}",
        "proxy-base": f"http://127.0.0.1:{ports['proxy-base']}{PATH}",
        "proxy-granian": f"http://127.0.0.1:{ports['proxy-granian']}{PATH}",
        "proxy-granian-base": f"http://127.0.0.1:{ports['proxy-granian-base']}{PATH}",
        "proxy-granian-wsgi": f"http://127.0.0.1:{ports['proxy-granian-wsgi']}{PATH}",
        "proxy-uvicorn": f"http://127.0.0.1:{ports['proxy-uvicorn']}{PATH}",
        "proxy-uvicorn-base": f"http://127.0.0.1:{ports['proxy-uvicorn-base']}{PATH}",
        "nginx": f"http://127.0.0.1:{ports['nginx']}{PATH}",
        "nginx-headers": f"http://127.0.0.1:{ports['nginx-headers']}{PATH}",
        "nginx-plane": f"http://127.0.0.1:{ports['nginx-plane']}{PATH}",
        "revproxy": f"http://127.0.0.1:{ports['revproxy']}{PATH}",
    }
    bases = {name: f"{name}-base" for name in ("proxy", "proxy-granian", "proxy-uvicorn")}
    opt_in = (*bases.values(), "proxy-granian-wsgi", "nginx-headers")
    wanted = [t for t in args.only or list(targets) if args.only or t not in opt_in]
    wanted = [t for t in wanted if t not in bases.values()]
    if "direct" not in wanted:
        wanted.insert(0, "direct")
    if args.base:  # each measured right before this checkout's proxy under the same server
        for new, old in bases.items():
            if new in wanted:
                wanted.insert(wanted.index(new), old)
    base_tree = folder / "base"
    try:
        # The DRF upstream: one gunicorn of one worker per core, all on one port
        # (SO_REUSEPORT), so that the kernel spreads the connections over them. Behind one
        # gunicorn of two workers, whichever worker woke first could accept all 16 of a run's
        # connections and serve them on one core: 1314-1359 req/s in 2 of 12 runs, ~3300 when
        # they split (scratch runs, 2026-12-06), which every target behind it met by chance.
        upstream = [
            start(
                gunicorn(
                    "django.core.wsgi:get_wsgi_application()",
                    ports["upstream"],
                    {},
                    1,
                    args.threads,
                    ["--reuse-port"],
                ),
                {**base_env, "DJANGO_SETTINGS_MODULE": "proxy_upstream_settings"},
            )
            for _ in range(args.workers)
        ]
        for process in upstream:
            wait_ready(targets["direct"], process)
        for _ in range(20 * args.workers):  # a connection each: every instance has loaded
            wait_ready(targets["direct"])
        served["direct"] = upstream
        proxy_env = {
            **base_env,
            "DJANGO_SETTINGS_MODULE": "strangler_proxy.settings",
            "STRANGLER_ROUTES_FILE": str(routes),
            "STRANGLER_PROXY_WORKERS": str(args.workers),
            "STRANGLER_PROXY_THREADS": str(args.threads),
            # Like nginx's `access_log off` below: the proxy's own line per request is off too.
            "STRANGLER_PROXY_ACCESS_LOG": "false",
        }
        if "proxy" in wanted:
            proxy = start(
                gunicorn(
                    "strangler_proxy.wsgi:application",
                    ports["proxy"],
                    {},
                    args.workers,
                    args.threads,
                    ["-c", str(ROOT / "strangler_proxy" / "gunicorn.conf.py")],
                ),
                {**proxy_env, "PROMETHEUS_MULTIPROC_DIR": str(folder / "prom")},
            )
            wait_ready(targets["proxy"], proxy)
            served["proxy"] = [proxy]
        base_env_of_tree = {
            **proxy_env,
            "PYTHONPATH": f"{base_tree}:{ROOT / 'benchmarks'}",
        }
        if args.base:
            subprocess.run(
                ["git", "worktree", "add", "--detach", "-q", str(base_tree), args.base],
                cwd=ROOT,
                check=True,
            )
        if "proxy-base" in wanted:
            old = start(
                gunicorn(
                    "strangler_proxy.wsgi:application",
                    ports["proxy-base"],
                    {},
                    args.workers,
                    args.threads,
                    ["-c", str(base_tree / "strangler_proxy" / "gunicorn.conf.py")],
                ),
                {**base_env_of_tree, "PROMETHEUS_MULTIPROC_DIR": str(folder / "prom-base")},
                cwd=base_tree,
            )
            wait_ready(targets["proxy-base"], old)
            served["proxy-base"] = [old]

        def serve(name: str, server: str, env: dict[str, str], cwd: Path = ROOT) -> None:
            """`python -m strangler_proxy.serve` under `server` (STRANGLER_PROXY_SERVER)."""
            process = start(
                [
                    sys.executable,
                    "-m",
                    "strangler_proxy.serve",
                    "--bind",
                    f"127.0.0.1:{ports[name]}",
                ],
                {
                    **env,
                    "STRANGLER_PROXY_SERVER": server,
                    "PROMETHEUS_MULTIPROC_DIR": str(folder / f"prom-{name}"),
                },
                cwd=cwd,
            )
            wait_ready(targets[name], process)
            served[name] = [process]

        # granian hands each request between its Rust thread and the loop's; uvicorn parses and
        # answers on the loop's own thread (one thread per worker)
        for name, server in (("proxy-granian", "granian"), ("proxy-uvicorn", "uvicorn")):
            if f"{name}-base" in wanted:
                serve(f"{name}-base", server, base_env_of_tree, base_tree)
            if name in wanted:
                serve(name, server, proxy_env)
        if "proxy-granian-wsgi" in wanted:
            (folder / "prom-granian-wsgi").mkdir()
            granian_wsgi = start(
                [
                    str(Path(sys.executable).parent / "granian"),
                    "--interface",
                    "wsgi",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(ports["proxy-granian-wsgi"]),
                    "--workers",
                    str(args.workers),
                    "--blocking-threads",
                    str(args.threads),
                    "--log-level",
                    "warning",
                    "strangler_proxy.wsgi:application",
                ],
                {**proxy_env, "PROMETHEUS_MULTIPROC_DIR": str(folder / "prom-granian-wsgi")},
            )
            wait_ready(targets["proxy-granian-wsgi"], granian_wsgi)
            served["proxy-granian-wsgi"] = [granian_wsgi]
        for name, headers in (("nginx", None), ("nginx-headers", PLANE_HEADERS)):
            if name not in wanted:
                continue
            home = folder / name
            conf = nginx_conf(home, ports[name], ports["upstream"], args.workers, headers)
            nginx = start(
                ["nginx", "-c", str(conf), "-p", str(home), "-g", "daemon off;"], base_env
            )
            wait_ready(targets[name], nginx)
            served[name] = [nginx]
        if "nginx-plane" in wanted:
            plane = folder / "plane"
            plane.mkdir()
            # the export reads the proxy's settings (problem types): the same env as the proxy
            os.environ.update(
                {k: proxy_env[k] for k in ("DJANGO_SETTINGS_MODULE", "STRANGLER_DATA_DIR")}
            )
            from strangler_proxy.routes.load import load_table

            (plane / "nginx.conf").write_text(
                plane_conf(load_table(routes), ports["nginx-plane"], args.workers)
            )
            command = ["nginx", "-c", str(plane / "nginx.conf"), "-p", str(plane)]
            plane_server = start([*command, "-g", "daemon off;"], base_env)
            wait_ready(targets["nginx-plane"], plane_server)
            served["nginx-plane"] = [plane_server]
        if "revproxy" in wanted:
            rev = start(
                gunicorn(
                    "django.core.wsgi:get_wsgi_application()",
                    ports["revproxy"],
                    {},
                    args.workers,
                    args.threads,
                ),
                {
                    **base_env,
                    "DJANGO_SETTINGS_MODULE": "proxy_revproxy_settings",
                    "BENCH_UPSTREAM": upstream_url,
                },
            )
            wait_ready(targets["revproxy"], rev)
            served["revproxy"] = [rev]

        rounds: dict[str, list[dict[int, dict[str, float]]]] = {name: [] for name in wanted}

        def measured(name: str, connections: int, seconds: int) -> dict[str, float]:
            before = cpu_of(served[name]), cpu_of(upstream)
            run = wrk(targets[name], connections, seconds)
            after = cpu_of(served[name]), cpu_of(upstream)
            count = max(run["requests"], 1)
            run["cpu_us"] = 1e6 * (after[0] - before[0]) / count
            run["upstream_cpu_us"] = 1e6 * (after[1] - before[1]) / count
            return run

        slices = max(1, round(args.duration / args.slice))

        def measured_at(connections: int) -> dict[str, dict[str, float]]:
            """Every wanted target at `connections`: each one `references(connections)` pairs
            measured interleaved with its reference (`abba`), its run carrying the reference's
            req/s and p50 beside it (`reference_rps`, `reference_p50`); a reference's own row
            every slice of it; the others in one run each."""
            reference_of = references(wanted, connections)
            out: dict[str, dict[str, float]] = {}
            slices_of: dict[str, list[dict[str, float]]] = {}
            for name in wanted:
                reference = reference_of.get(name)
                if reference is None:
                    continue
                sides: tuple[list, list] = ([], [])
                previous = None
                for side in abba(slices):
                    if side != previous:  # unmeasured: pools refilled after the other's turn
                        wrk(targets[(reference, name)[side]], connections, 1)
                        previous = side
                    sides[side].append(measured((reference, name)[side], connections, args.slice))
                mine, theirs = combined(sides[1]), combined(sides[0])
                out[name] = {**mine, "reference_rps": theirs["rps"], "reference_p50": theirs["p50"]}
                slices_of.setdefault(reference, []).extend(sides[0])
            for name in wanted:
                if name not in out:
                    alone = slices_of.get(name)
                    out[name] = (
                        combined(alone) if alone else measured(name, connections, args.duration)
                    )
            return out

        for number in range(args.rounds):  # in turn: a noisy spell hits every target alike
            for name in wanted:
                wrk(targets[name], 4, 1)  # warm pools and caches
            one, many = measured_at(1), measured_at(16)
            for name in wanted:
                rounds[name].append({1: one[name], 16: many[name]})
            paired = references(wanted, 16)
            print(
                f"measured round {number + 1}; req/s at 16 connections: "
                + ", ".join(
                    f"{name} {many[name]['rps']:.0f}"
                    + (
                        f" (nginx beside it {many[name]['reference_rps']:.0f})"
                        if name in paired
                        else ""
                    )
                    for name in wanted
                ),
                flush=True,
            )
        results = {
            name: {
                c: {k: statistics.median(r[c][k] for r in runs) for k in runs[0][c]}
                for c in (1, 16)
            }
            for name, runs in rounds.items()
        }
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if base_tree.exists():
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT)
        shutil.rmtree(folder, ignore_errors=True)

    direct = results["direct"]
    print(
        f"\nGET {PATH}  (wrk {args.duration}s per run; {args.workers} workers x {args.threads} threads "
        "everywhere: gunicorn gthread, proxy-granian under granian, proxy-uvicorn under uvicorn; "
        "CPU us/req: the target's own "
        "processes at 16 connections, user + system, from /proc; upstream: the DRF upstream's "
        "behind it)"
    )
    header = f"{'target':<18} {'c1 req/s':>9} {'c1 p50':>8} {'c1 p99':>8} {'added p50':>9} | {'c16 req/s':>9} {'c16 p50':>8} {'c16 p99':>8} {'% direct':>8} {'errors':>6} {'CPU us/req':>10} {'upstream':>8}"
    print(header)
    print("-" * len(header))
    for name in wanted:
        one, many = results[name][1], results[name][16]
        print(
            f"{name:<18} {one['rps']:>9.0f} {one['p50']:>6.2f}ms {one['p99']:>6.2f}ms "
            f"{one['p50'] - direct[1]['p50']:>+7.2f}ms | {many['rps']:>9.0f} {many['p50']:>6.2f}ms "
            f"{many['p99']:>6.2f}ms {100 * many['rps'] / direct[16]['rps']:>7.0f}% {int(one['errors'] + many['errors']):>6} "
            f"{many['cpu_us']:>10.0f} {many['upstream_cpu_us']:>8.0f}"
        )
    for new_name, old_name in bases.items():
        if old_name not in results or new_name not in results:
            continue
        old, new = results[old_name], results[new_name]
        print(
            f"{new_name} vs {old_name} ({args.base}): added p50 "
            f"{old[1]['p50'] - direct[1]['p50']:+.2f} -> {new[1]['p50'] - direct[1]['p50']:+.2f} ms; "
            f"req/s at 16 connections x{new[16]['rps'] / old[16]['rps']:.2f}, "
            f"at 1 x{new[1]['rps'] / old[1]['rps']:.2f}; CPU us/req at 16 "
            f"{old[16]['cpu_us']:.0f} -> {new[16]['cpu_us']:.0f}"
        )
    for name in ("proxy", "proxy-granian", "proxy-uvicorn"):
        if name not in results:
            continue
        added = paired_added(rounds, name)
        line = f"{name} targets: added p50 <= 0.35 ms: {_added_text(added)} {'OK' if added[0] <= 0.35 else 'MISSED'}"
        if "nginx" in results:  # issue 16: >= 75 % of plain nginx's req/s at 16 connections
            share = paired_share(rounds, name)
            line += f"; >= 75 % of plain nginx at 16 connections: {_share_text(share)} {'OK' if share[0] >= 0.75 else 'MISSED'}"
        errors = int(results[name][1]["errors"] + results[name][16]["errors"])
        print(f"{line}; errors: {errors} {'OK' if errors == 0 else 'MISSED'}")
    if "nginx-plane" in results and "nginx" in results:
        added = paired_added(rounds, "nginx-plane")
        share = paired_share(rounds, "nginx-plane")
        print(
            f"nginx-plane targets: added p50 within 0.05 ms of plain nginx: {_added_text(added)} "
            f"{'OK' if added[0] <= 0.05 else 'MISSED'}; >= 95 % of its req/s at 16 connections: "
            f"{_share_text(share)} {'OK' if share[0] >= 0.95 else 'MISSED'}"
        )
    if "nginx-headers" in results and "nginx" in results:
        share = paired_share(rounds, "nginx-headers")
        print(
            f"nginx-headers (plain nginx sending {', '.join(PLANE_HEADERS)} too): "
            f"{_share_text(share)} of plain nginx's req/s at 16 connections, added p50 "
            f"{_added_text(paired_added(rounds, 'nginx-headers'))}: what those headers cost the "
            "upstream, which the plane and the Python proxy pay as well"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
