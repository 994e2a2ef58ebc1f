"""`python -m strangler_proxy export nginx|gateway [--routes FILE] [--out FILE] ...`.

The exporters are imported by their commands: every other command of the CLI (`routes set`,
run by a takeover inside its freeze window) starts without their imports."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from servicekit.web.files import atomic_write
from strangler_proxy.config import current
from strangler_proxy.export.publish import nginx_options
from strangler_proxy.routes.file import live_routes_file
from strangler_proxy.routes.load import load_table
from strangler_proxy.routes.model import RouteTableError


def cmd_nginx(args: argparse.Namespace) -> int:
    from strangler_proxy.export.nginx import render

    source = args.routes or args.file or str(live_routes_file())
    try:
        table = load_table(source)
    except (RouteTableError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    options = nginx_options(current())
    if args.listen:
        options = dataclasses.replace(options, listen=args.listen)
    return _emit(args.out, render(table, options), f"{len(table.routes)} routes")


def cmd_gateway(args: argparse.Namespace) -> int:
    from strangler_proxy.export import gateway

    source = args.routes or args.file or str(live_routes_file())
    try:
        table = load_table(source)
        options = gateway.GatewayOptions(
            gateway=args.gateway,
            gateway_namespace=args.gateway_namespace,
            namespace=args.namespace,
            hostnames=tuple(args.hostname),
            backends={
                name: gateway.Backend.parse(target)
                for name, _, target in (b.partition("=") for b in args.backend)
            },
            comparator=gateway.Backend.parse(args.comparator) if args.comparator else None,
        )
        text, result = gateway.render(table, options)
    except (RouteTableError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for line in result.conflicts:
        print(f"conflict: {line}", file=sys.stderr)
    if result.conflicts and args.strict:
        print(
            "error: refused (--strict): the Gateway API would not keep the table's order",
            file=sys.stderr,
        )
        return 2
    return _emit(args.out, text, f"{len(result.documents)} HTTPRoutes")


def _emit(out: str | None, text: str, what: str) -> int:
    """The export to `out` (atomically) or to stdout."""
    if out:
        atomic_write(out, text)
        print(f"wrote {out} ({what})")
    else:
        sys.stdout.write(text)
    return 0


def add_commands(top: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    export = top.add_parser("export", help="compile the route table for another data plane")
    sub = export.add_subparsers(dest="command", required=True)
    nginx = sub.add_parser("nginx", help="a complete nginx configuration (stdout or --out)")
    nginx.add_argument("--routes", help="routes file (default: the live one)")
    nginx.add_argument("--out", help="write here (atomically) instead of stdout")
    nginx.add_argument("--listen", help="address:port (default: $STRANGLER_NGINX_LISTEN)")
    nginx.set_defaults(func=cmd_nginx)
    gw = sub.add_parser("gateway", help="Kubernetes Gateway API HTTPRoutes (stdout or --out)")
    gw.add_argument("--routes", help="routes file (default: the live one)")
    gw.add_argument("--out", help="write here (atomically) instead of stdout")
    gw.add_argument("--gateway", default="strangler", help="the Gateway the routes attach to")
    gw.add_argument("--gateway-namespace", help="its namespace (default: the routes')")
    gw.add_argument("--namespace", help="the HTTPRoutes' namespace (default: none written)")
    gw.add_argument("--hostname", action="append", default=[], help="repeatable")
    gw.add_argument(
        "--backend",
        action="append",
        default=[],
        metavar="UPSTREAM=SERVICE:PORT",
        help="the Service an upstream is (default: its instance's host and port)",
    )
    gw.add_argument("--comparator", metavar="SERVICE:PORT", help="shadow reads mirrored here")
    gw.add_argument("--strict", action="store_true", help="refuse an order it cannot keep")
    gw.set_defaults(func=cmd_gateway)
    return [export, nginx, gw]
