"""Route inventory: every monolith endpoint, the route that serves it, its mode and traffic split.

The endpoints come from the monolith's URLconf, walked in a subprocess under the monolith's own
settings (`servicekit.web.url_inventory`, nothing copied into the project), or from a saved copy
of that output: the proxy never imports monolith code.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from servicekit.web.files import atomic_write
from strangler_proxy.routes import RouteTable, resolve

ROOT = Path(__file__).resolve().parents[2]
CACHE_SECONDS = 300.0
WALKER = "servicekit.web.url_inventory"


class InventoryError(RuntimeError):
    """The monolith's endpoint list could not be read."""


def monolith_command(environ: dict[str, str]) -> tuple[list[str], dict[str, str], str]:
    """(command, environment, folder) that print the monolith's endpoints as JSON.

    `STRANGLER_MONOLITH_INVENTORY` (a shell-split command, run in `STRANGLER_MONOLITH_DIR`) when
    set; else this interpreter walks the URLconf of `STRANGLER_MONOLITH_SETTINGS` (the
    monolith's settings module) from `STRANGLER_MONOLITH_DIR` (its project folder; default the
    current one). The settings are never guessed: a wrong guess would list another project.
    """
    folder = environ.get("STRANGLER_MONOLITH_DIR") or os.getcwd()
    env = {k: v for k, v in environ.items() if k != "DJANGO_SETTINGS_MODULE"}  # the proxy's own
    env["LOG_LEVEL"] = "ERROR"
    configured = environ.get("STRANGLER_MONOLITH_INVENTORY")
    if configured:
        return shlex.split(configured), env, folder
    settings = environ.get("STRANGLER_MONOLITH_SETTINGS")
    if not settings:
        raise InventoryError(
            "STRANGLER_MONOLITH_SETTINGS is not set: name the monolith's settings module "
            "(e.g. mysite.settings) and STRANGLER_MONOLITH_DIR its project folder, or set "
            "STRANGLER_MONOLITH_INVENTORY to a command printing the endpoints, or pass --endpoints"
        )
    env["DJANGO_SETTINGS_MODULE"] = settings
    # this checkout first (servicekit), then the project folder (the cwd, as `-c` puts it)
    walk = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
        f"from {WALKER} import main; sys.exit(main())"
    )
    return [sys.executable, "-c", walk, "--json"], env, folder


def read_endpoints(
    *, source: str | None = None, timeout: float = 120.0, environ: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """From a saved JSON file (`source`), else by running the monolith's command."""
    if source:
        text = Path(source).read_text(encoding="utf-8")
    else:
        command, env, folder = monolith_command(dict(os.environ if environ is None else environ))
        try:
            done = subprocess.run(
                command,
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InventoryError(f"the monolith's URL inventory did not run: {exc}") from exc
        if done.returncode != 0:
            raise InventoryError(
                f"the URL inventory exited {done.returncode}: {done.stderr[-500:]}"
            )
        text = done.stdout
    try:
        return json.loads(text[text.index("{") :])["endpoints"]
    except (ValueError, KeyError) as exc:
        raise InventoryError(f"the URL inventory did not print its JSON document: {exc}") from exc


def cached_endpoints(folder: Path, *, refresh: bool = False) -> list[dict[str, Any]]:
    """The endpoint list, re-read from the monolith at most every CACHE_SECONDS."""
    cache = folder / "inventory-endpoints.json"
    if not refresh and cache.exists() and time.time() - cache.stat().st_mtime < CACHE_SECONDS:
        return json.loads(cache.read_text(encoding="utf-8"))
    rows = read_endpoints()
    atomic_write(cache, json.dumps(rows))
    return rows


def traffic_by_route(snapshot: dict[str, float]) -> dict[str, dict[str, float]]:
    """Requests per route and upstream from a lifecycle snapshot (`req|route|upstream|status`)."""
    out: dict[str, dict[str, float]] = {}
    for key, value in snapshot.items():
        if key.startswith("req|"):
            _, route, upstream, _status = key.split("|", 3)
            out.setdefault(route, {})
            out[route][upstream] = out[route].get(upstream, 0.0) + value
    return out


def inventory(
    endpoints: list[dict[str, Any]],
    table: RouteTable,
    traffic: dict[str, dict[str, float]] | None = None,
) -> list[dict[str, Any]]:
    """Per endpoint and method: the route resolving it (None: uncovered), mode, candidate and
    the share of the route's traffic still answered by the monolith (None: no traffic seen)."""
    traffic = traffic or {}
    default = table.default_upstream
    rows = []
    for endpoint in endpoints:
        methods = endpoint["methods"]
        for method in methods:  # "*": a function view that does not say; resolved as a GET
            decision = resolve(
                table, method="GET" if method == "*" else method, path=endpoint["example"]
            )
            route = decision.route
            counts = traffic.get(route.name, {}) if route else {}
            total = sum(counts.values())
            share = counts.get(default, 0.0) / total if total else None
            if route is not None and share is None and route.mode == "monolith":
                share = 1.0  # nothing measured yet, but nothing else can answer
            rows.append(
                {
                    "pattern": endpoint["pattern"],
                    "method": method,
                    "view": endpoint.get("view", ""),
                    "route": route.name if route else None,
                    "mode": route.mode if route else "uncovered",
                    "percent": route.percent if route and route.mode == "canary" else None,
                    "candidate": route.upstream if route else None,
                    "catch_all": bool(route and route.prefix in ("/", "/api/")),
                    "requests": int(total),
                    "monolith_share": round(share, 4) if share is not None else None,
                }
            )
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    modes: dict[str, int] = {}
    for row in rows:
        modes[row["mode"]] = modes.get(row["mode"], 0) + 1
    return {
        "endpoints": len({r["pattern"] for r in rows}),
        "endpoint_methods": len(rows),
        "by_mode": modes,
        "uncovered": [f"{r['method']} {r['pattern']}" for r in rows if r["route"] is None],
        "only_catch_all": len([r for r in rows if r["catch_all"]]),
    }


def cmd_inventory(args: argparse.Namespace) -> int:
    from strangler_proxy.lifecycle.evidence import http_snapshot
    from strangler_proxy.routes.file import live_routes_file, load_live_table

    table = load_live_table(args.file or str(live_routes_file()))
    try:
        endpoints = read_endpoints(source=args.endpoints)
    except InventoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    traffic: dict[str, dict[str, float]] = {}
    if args.metrics != "none":
        base = os.environ.get("STRANGLER_PROXY_URL", "http://127.0.0.1:8000")
        url = args.metrics or f"{base.rstrip('/')}/_strangler/metrics"
        try:
            traffic = traffic_by_route(http_snapshot([url], timeout=2.0)())
        except Exception as exc:  # the proxy may not run: the inventory still lists endpoints
            print(f"note: no traffic figures ({url}: {exc})", file=sys.stderr)
    rows = inventory(endpoints, table, traffic)
    if args.json:
        print(json.dumps({"summary": summary(rows), "endpoints": rows}, indent=1))
        return 0
    header = ("METHOD", "PATTERN", "ROUTE", "MODE", "MONOLITH SHARE", "REQUESTS")
    lines = [header]
    for r in rows:
        mode = f"canary {r['percent']:g}%" if r["mode"] == "canary" else r["mode"]
        share = "-" if r["monolith_share"] is None else f"{r['monolith_share']:.0%}"
        route = r["route"] or "(none: UNCOVERED)"
        route += " (catch-all)" if r["catch_all"] else ""
        lines.append((r["method"], r["pattern"], route, mode, share, str(r["requests"])))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
    s = summary(rows)
    print(
        f"\n{s['endpoints']} endpoints, {s['endpoint_methods']} endpoint-methods; "
        f"by mode: {s['by_mode']}; uncovered: {len(s['uncovered'])}; "
        f"served only by a catch-all route: {s['only_catch_all']}"
    )
    return 0


def add_commands(top: argparse._SubParsersAction) -> None:
    parser = top.add_parser("inventory", help="every monolith endpoint, its route, mode, traffic")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--endpoints", help="a saved `python -m servicekit.web.url_inventory --json` output"
    )
    parser.add_argument(
        "--metrics", help="the proxy's /_strangler/metrics URL for traffic shares ('none': skip)"
    )
    parser.add_argument("--file", help="routes file", default=argparse.SUPPRESS)
    parser.set_defaults(func=cmd_inventory)
