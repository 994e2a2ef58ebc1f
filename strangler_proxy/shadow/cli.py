"""`python -m strangler_proxy capture export`: shadowed traffic as a parity corpus."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from servicekit.web.control_store import redis_prefix
from strangler_proxy.shadow.capture import scenarios_document, scenarios_yaml


def cmd_capture_export(args: argparse.Namespace) -> int:
    # the composition root, imported by this command only: the CLI's others start without it
    from strangler_proxy.runtime import build_capture, default_folder, redis_client

    folder = Path(args.data) if args.data else default_folder()
    store = build_capture(
        path=folder / "shadow-capture.jsonl",
        redis=redis_client(os.environ.get("REDIS_URL", "")),
        redis_prefix=redis_prefix(),
    )
    roles = dict(pair.split("=", 1) for pair in args.role or [])
    document = scenarios_document(
        list(reversed(store.recent(store.keep))),
        route=args.route,
        roles=roles,
        ignore=args.ignore or [],
    )
    if not document["scenarios"]:
        print(f"error: nothing captured for route {args.route!r}", file=sys.stderr)
        return 1
    sys.stdout.write(scenarios_yaml(document))
    return 0


def add_commands(top: argparse._SubParsersAction) -> None:
    capture = top.add_parser("capture", help="shadowed traffic as parity scenarios")
    csub = capture.add_subparsers(dest="command", required=True)
    export = csub.add_parser("export", help="print captured requests as a parity corpus (YAML)")
    export.add_argument("--route", required=True)
    export.add_argument(
        "--role", action="append", help="map a role to a corpus user: customer=alice"
    )
    export.add_argument("--ignore", action="append", help="an ignore rule for the route")
    export.add_argument("--data", help="capture folder (default <data folder>/proxy)")
    export.set_defaults(func=cmd_capture_export)
