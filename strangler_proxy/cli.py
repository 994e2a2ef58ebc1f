"""The operators' CLI: `routes ...` edits `routes.yaml` through its one locked writer; every
worker picks the change up by itself.

Also `lifecycle ...` (lifecycle/cli.py), `capture export` (shadow/cli.py), `inventory`
(control/route_inventory.py) and `adopt` (adopt.py: a route table for an existing Django project).
"""

from __future__ import annotations

import argparse
import json

import yaml

from servicekit.web.control_store import ReplicasLagging
from strangler_proxy.export import publish as nginx_plane
from strangler_proxy.routes.file import live_routes_file, load_live_table, read_raw, route_update
from strangler_proxy.routes.model import RouteTableError


def _file(args: argparse.Namespace) -> str:
    return args.file or str(live_routes_file())


def _target(route: dict) -> str:
    mode = route.get("mode", "monolith")
    if mode == "canary":
        return f"canary {route.get('percent', 0)}% -> {route.get('upstream')}"
    if mode in ("extracted", "shadow"):
        return f"{mode} -> {route.get('upstream')}"
    return mode


def cmd_list(args: argparse.Namespace) -> int:
    data = read_raw(_file(args))
    rows = [
        (
            r.get("name", "?"),
            ",".join(r.get("methods", [])) or "*",
            r.get("prefix") or r.get("pattern", ""),
            _target(r),
            r.get("fallback") or "-",
        )
        for r in data.get("routes", [])
    ]
    widths = [
        max(len(str(x)) for x in col)
        for col in zip(("NAME", "METHODS", "PATH", "MODE", "FALLBACK"), *rows, strict=False)
    ]
    for row in [("NAME", "METHODS", "PATH", "MODE", "FALLBACK"), *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=False)).rstrip())
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    for route in read_raw(_file(args)).get("routes", []):
        if route.get("name") == args.route:
            print(yaml.safe_dump(route, sort_keys=False).rstrip())
            return 0
    print(f"error: no route named {args.route!r}")
    return 1


def rate_limit(text: str) -> dict | str:
    """`--rate-limit REQUESTS/SECONDS[/client|user]` as the route's `rate_limit` block;
    `none` removes it (returned as "none")."""
    if text == "none":
        return text
    parts = text.split("/")
    key = parts.pop() if len(parts) == 3 else "client"
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give REQUESTS/SECONDS (positive whole numbers, e.g. 5/60), optionally "
            "/client or /user, or none"
        )
    if key not in ("client", "user"):
        raise argparse.ArgumentTypeError(f"{text!r}: the key is client or user, not {key!r}")
    block = {"requests": int(parts[0]), "per": int(parts[1])}
    return block if key == "client" else {**block, "key": key}


def cmd_set(args: argparse.Namespace) -> int:
    changes: dict = {}
    for key in ("mode", "percent", "upstream", "fallback", "auth", "rate_limit"):
        value = getattr(args, key)
        if value is not None:
            removable = key in ("fallback", "rate_limit")
            changes[key] = None if value in ("", "none") and removable else value
    if args.methods is not None:
        changes["methods"] = [m.strip().upper() for m in args.methods.split(",") if m.strip()]
    if not changes:
        print(
            "error: nothing to change (give --mode, --percent, --upstream, --fallback, "
            "--rate-limit, ...)"
        )
        return 2
    try:
        applied = route_update(_file(args), args.route, changes)
    except KeyError:
        print(f"error: no route named {args.route!r}")
        return 1
    except RouteTableError as exc:
        print(f"error: refused, the file is unchanged: {exc}")
        return 1
    except ReplicasLagging as exc:
        print(f"error: {exc}")
        return 3
    print(f"{args.route}: {json.dumps(changes)} ({applied.summary()})")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        table = load_live_table(_file(args))
    except RouteTableError as exc:
        print(f"error: {exc}")
        return 1
    print(f"ok: {len(table.routes)} routes, {len(table.upstreams)} upstreams")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m strangler_proxy")
    root.add_argument(
        "--file",
        help="routes file (default: $STRANGLER_ROUTES_FILE, else <data folder>/routes.yaml)",
    )
    top = root.add_subparsers(dest="group", required=True)
    routes = top.add_parser("routes", help="inspect and change the route table")
    sub = routes.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every route, its mode and target").set_defaults(func=cmd_list)
    show = sub.add_parser("show", help="one route in full")
    show.add_argument("route")
    show.set_defaults(func=cmd_show)
    change = sub.add_parser(
        "set", help="change a route (validated; the file is replaced atomically)"
    )
    change.add_argument("route")
    change.add_argument("--mode", choices=["monolith", "extracted", "shadow", "canary"])
    change.add_argument("--percent", type=float)
    change.add_argument("--upstream")
    change.add_argument("--fallback", help="an upstream name, or 'none' to remove")
    change.add_argument("--auth", choices=["none", "optional", "required"])
    change.add_argument("--methods", help="comma-separated, e.g. GET,HEAD")
    change.add_argument(
        "--rate-limit",
        type=rate_limit,
        metavar="N/SECONDS[/client|user]",
        help="at most N requests per SECONDS per client address (or per user: the token's "
        "subject); more are answered 429 with Retry-After; 'none' to remove",
    )
    change.set_defaults(func=cmd_set)
    sub.add_parser("validate", help="check the file against the schema").set_defaults(
        func=cmd_validate
    )
    from strangler_proxy import adopt
    from strangler_proxy.control import route_inventory
    from strangler_proxy.export import cli as export_cli
    from strangler_proxy.lifecycle import cli as lifecycle_cli
    from strangler_proxy.shadow import cli as capture_cli

    more = lifecycle_cli.add_commands(top)
    capture_cli.add_commands(top)
    route_inventory.add_commands(top)
    export_cli.add_commands(top)
    adopt.add_commands(top)
    for p in (routes, *sub.choices.values(), *more):
        p.add_argument("--file", help="routes file", default=argparse.SUPPRESS)
    return root


def main(argv: list[str]) -> int:
    nginx_plane.install()  # `routes set` and the lifecycle commands regenerate the nginx plane
    args = parser().parse_args(argv)
    if not hasattr(args, "file"):
        args.file = None
    return args.func(args)
