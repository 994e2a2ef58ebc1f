"""`python -m strangler_proxy export nginx [--routes FILE] [--out FILE] [--listen ADDR]`."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from servicekit.web.files import atomic_write
from strangler_proxy.config import current
from strangler_proxy.export.nginx import render
from strangler_proxy.export.publish import nginx_options
from strangler_proxy.routes.file import live_routes_file
from strangler_proxy.routes.load import load_table
from strangler_proxy.routes.model import RouteTableError


def cmd_nginx(args: argparse.Namespace) -> int:
    source = args.routes or args.file or str(live_routes_file())
    try:
        table = load_table(source)
    except (RouteTableError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    options = nginx_options(current())
    if args.listen:
        options = dataclasses.replace(options, listen=args.listen)
    text = render(table, options)
    if args.out:
        atomic_write(args.out, text)
        print(f"wrote {args.out} ({len(table.routes)} routes)")
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
    return [export, nginx]
