"""`python -m strangler_proxy lifecycle status|promote|rollback|auto|run|history`."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path

from servicekit.web.control_store import leader_lease
from strangler_proxy.lifecycle.controller import Controller, RouteStatus
from strangler_proxy.lifecycle.evaluator import Evaluator
from strangler_proxy.lifecycle.evidence import http_snapshot, local_snapshot
from strangler_proxy.lifecycle.policy import LifecycleError
from strangler_proxy.lifecycle.store import LifecycleStore
from strangler_proxy.routes.file import live_routes_file


def _metrics_urls(args: argparse.Namespace) -> list[str]:
    if args.metrics:
        return args.metrics
    base = os.environ.get("STRANGLER_PROXY_URL") or (
        f"http://127.0.0.1:{os.environ.get('PROXY_PORT', '8000')}"
    )
    return [f"{base.rstrip('/')}/_strangler/metrics"]


# The proxy's composition root (strangler_proxy.runtime) is imported by the commands that build
# from it: the rest of the CLI (`routes set`, run inside a takeover's freeze window) starts
# without the request path's imports.


def _folder(args: argparse.Namespace) -> Path:
    from strangler_proxy.runtime import default_folder

    return Path(args.data) if args.data else default_folder()


def controller(args: argparse.Namespace) -> Controller:
    from strangler_proxy.runtime import build_controller

    read = local_snapshot if args.local else http_snapshot(_metrics_urls(args))
    return build_controller(
        routes_file=args.file or str(live_routes_file()), folder=_folder(args), read_snapshot=read
    )


def _print_status(rows: list[RouteStatus]) -> None:
    for row in rows:
        ev = row.evidence
        rate = lambda v: "-" if v is None else f"{v:.2%}"  # noqa: E731
        p99 = "-" if ev["p99_ms"] is None else f"{ev['p99_ms']:.0f}ms"
        print(
            f"{row.route:28} {row.stage:12} -> {row.next_stage or '-':12} "
            f"auto={'on' if row.auto else 'off':3} n={ev['requests']:<6} "
            f"err={rate(ev['error_rate']):7} mismatch={rate(ev['mismatch_rate']):7} p99={p99:7} "
            f"{row.verdict}: {'; '.join(row.reasons) or 'gates hold'}"
        )


def cmd_status(args: argparse.Namespace) -> int:
    rows = controller(args).status()
    if args.json:
        print(json.dumps([r.__dict__ for r in rows], indent=2))
    else:
        _print_status(rows)
    return 0


def _move(args: argparse.Namespace, action: str) -> int:
    ctl = controller(args)
    try:
        if action == "promote":
            entry = ctl.promote(args.route, by="cli", force=args.force)
        else:
            entry = ctl.rollback(args.route, by="cli", reason=args.reason)
    except LifecycleError as exc:
        print(f"error: {exc}")
        return 1
    print(f"{entry['route']}: {entry['from']} -> {entry['to']}" + (" (forced)" * entry["forced"]))
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    return _move(args, "promote")


def cmd_rollback(args: argparse.Namespace) -> int:
    return _move(args, "rollback")


def cmd_auto(args: argparse.Namespace) -> int:
    """Let the gates move the route themselves (`lifecycle.auto`), or hand it back to operators."""
    from strangler_proxy.routes.file import RouteChange, RouteTableError, route_change

    on = args.switch == "on"
    try:
        route_change(args.file or live_routes_file(), RouteChange(route=args.route, auto=on))
    except KeyError:
        print(f"error: no route {args.route!r}")
        return 2
    except RouteTableError as exc:
        print(f"error: {exc}")
        return 2
    what = (
        "the evaluator promotes it a step when the gates hold, rolls it back when they fail"
        if on
        else "promotions wait for an operator; the evaluator still rolls a failing one back"
    )
    print(f"{args.route}: auto={args.switch} ({what})")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    for entry in reversed(LifecycleStore(_folder(args)).history(route=args.route)):
        print(json.dumps(entry, sort_keys=True))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    evaluator = Evaluator(
        controller(args),
        lock_path=_folder(args) / "lifecycle.lock",
        interval=args.interval,
        lease=leader_lease("lifecycle"),  # with a shared store, one leader across replicas
    )
    print(f"lifecycle evaluator: every {args.interval} s (Ctrl-C stops)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        evaluator.run(ticks=args.ticks)
    return 0


def add_commands(top: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    """Register the `lifecycle` group; returns the parsers that take --file."""
    group = top.add_parser("lifecycle", help="route lifecycle: evidence, gates, promote, rollback")
    sub = group.add_subparsers(dest="command", required=True)
    status = sub.add_parser("status", help="every route's stage, evidence and verdict")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    promote = sub.add_parser("promote", help="one stage forward, when the gates hold")
    promote.add_argument("route")
    promote.add_argument("--force", action="store_true", help="past failing gates (recorded)")
    promote.set_defaults(func=cmd_promote)
    rollback = sub.add_parser("rollback", help="all traffic back to the monolith")
    rollback.add_argument("route")
    rollback.add_argument("--reason", default="operator")
    rollback.set_defaults(func=cmd_rollback)
    auto = sub.add_parser("auto", help="on: the gates promote the route themselves; off: not")
    auto.add_argument("route")
    auto.add_argument("switch", choices=("on", "off"))
    auto.set_defaults(func=cmd_auto)
    history = sub.add_parser("history", help="promotions and rollbacks with their evidence")
    history.add_argument("--route")
    history.set_defaults(func=cmd_history)
    run = sub.add_parser("run", help="evaluate every --interval s and act on `auto` routes")
    run.add_argument("--interval", type=float, default=5.0)
    run.add_argument("--ticks", type=int, help="stop after this many evaluations")
    run.set_defaults(func=cmd_run)
    commands = [status, promote, rollback, history, run]
    for parser in commands:
        parser.add_argument(
            "--metrics",
            action="append",
            help="a proxy's /_strangler/metrics URL (repeat for replicas; default "
            "$STRANGLER_PROXY_URL/_strangler/metrics, else http://127.0.0.1:8000)",
        )
        parser.add_argument(
            "--local", action="store_true", help="read this host's PROMETHEUS_MULTIPROC_DIR"
        )
        parser.add_argument("--data", help="lifecycle folder (default <data folder>/proxy)")

    return [group, *commands, auto]
