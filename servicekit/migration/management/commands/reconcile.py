"""`manage.py reconcile [--entity NAME] [--repair] [--source URL]` (password from
RECONCILE_PASSWORD, or --token): compare each mirrored entity here with its other side, the way
ownership points; exit 1 on drift a repair did not fix.

`--settle SECONDS`: drift is compared again (every half second, only the entities that showed
it) until it is gone or SECONDS passed, and only then counts: a write whose event is still on
its way to the mirror is not drift (right after a load, or a handover, the mirror trails by a
moment).

`--every SECONDS` runs it periodically until SIGTERM (for a service without a Celery worker):
each pass prints its report and records the drift gauge; drift and an unreachable peer are
logged, never fatal."""

import os
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from servicekit.migration.export_client import ExportError, add_export_arguments, export_policy
from servicekit.migration.reconcile import ReconcileRefused
from servicekit.migration.reconcile_run import peer_url, reconcile_pass, staff_source
from servicekit.web.commands import NO_SYSTEM_CHECKS, stop_on_signals


class Command(BaseCommand):
    help = "Compare owner and mirror of each entity (per-row fingerprints, in pages); --repair."
    requires_system_checks = NO_SYSTEM_CHECKS

    def add_arguments(self, parser):
        parser.add_argument(
            "--entity", action="append", default=[], help="only this one (repeatable)"
        )
        parser.add_argument("--source", default="", help="the peer's base URL (one peer only)")
        parser.add_argument("--token", default=os.environ.get("RECONCILE_TOKEN", ""))
        parser.add_argument("--username", default="")
        parser.add_argument(
            "--token-url",
            default="",
            help="the identity provider's token endpoint (default "
            "$RECONCILE_TOKEN_URL, or the monolith's)",
        )
        parser.add_argument("--page-size", type=int, default=200)
        parser.add_argument(
            "--repair",
            action="store_true",
            help="fix the mirror: here through its apply path, or by events when we own it",
        )
        parser.add_argument(
            "--every", type=float, default=0, help="seconds between passes; run until SIGTERM"
        )
        parser.add_argument("--passes", type=int, default=0, help="with --every: stop after N")
        parser.add_argument(
            "--settle",
            type=float,
            default=0,
            help="seconds drift may take to go (events in flight) before it counts",
        )
        add_export_arguments(parser)

    def handle(
        self,
        *args,
        entity,
        source,
        token,
        username,
        token_url,
        page_size,
        repair,
        every,
        passes,
        settle,
        **options,
    ):
        policy = export_policy(options)
        sources: dict = {}

        def source_for(peer: str):
            if peer not in sources:
                sources[peer] = staff_source(
                    source or peer_url(peer),
                    token=token,
                    username=username or settings.RECONCILE_USERNAME,
                    password=settings.RECONCILE_PASSWORD,
                    policy=policy,
                    token_url=token_url,
                )
            return sources[peer]

        def one_pass():
            return reconcile_pass(names=entity, fix=repair, source_for=source_for, limit=page_size)

        if every > 0:
            stop, done = stop_on_signals(), 0
            while not stop.is_set() and not (passes and done >= passes):
                try:
                    for report in one_pass():
                        self.stdout.write(report.summary())
                except (ExportError, ReconcileRefused) as exc:
                    sources.clear()  # a new session next time (the token may have expired)
                    self.stderr.write(f"reconcile pass failed: {exc}")
                done += 1
                stop.wait(0 if passes and done >= passes else every)
            return
        deadline = time.monotonic() + settle
        try:
            reports = one_pass()
            while any(r.remaining for r in reports) and time.monotonic() < deadline:
                time.sleep(0.5)
                drifted = [r.name for r in reports if r.remaining]
                again = {
                    r.name: r
                    for r in reconcile_pass(
                        names=drifted, fix=repair, source_for=source_for, limit=page_size
                    )
                }
                reports = [again.get(r.name, r) for r in reports]
        except (ExportError, ReconcileRefused) as exc:
            raise CommandError(str(exc)) from exc
        for report in reports:
            self.stdout.write(report.summary())
        left = [r.name for r in reports if r.remaining]
        refused = [r.name for r in reports if r.refused]
        if left:
            hint = "" if repair else " (rerun with --repair to fix the mirror)"
            raise CommandError(f"drift left in {', '.join(left)}{hint}")
        if refused and entity:
            raise CommandError(f"not reconciled: {', '.join(refused)}")
