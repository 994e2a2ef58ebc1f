"""`manage.py reconcile [--entity NAME] [--repair] [--source URL]` (password from
RECONCILE_PASSWORD, or --token): compare each mirrored entity here with its other side, the way
ownership points; exit 1 on drift a repair did not fix."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from servicekit.migration.export_client import ExportError, add_export_arguments, export_policy
from servicekit.migration.reconcile import ReconcileRefused
from servicekit.migration.reconcile_run import peer_url, reconcile_pass, staff_source


class Command(BaseCommand):
    help = "Compare owner and mirror of each entity (per-row fingerprints, in pages); --repair."

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
        add_export_arguments(parser)

    def handle(
        self, *args, entity, source, token, username, token_url, page_size, repair, **options
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

        try:
            reports = reconcile_pass(
                names=entity, fix=repair, source_for=source_for, limit=page_size
            )
        except (ExportError, ReconcileRefused) as exc:
            raise CommandError(str(exc)) from exc
        for report in reports:
            self.stdout.write(report.summary())
        left = [r.name for r in reports if r.remaining]
        refused = [r.name for r in reports if r.owner == "?"]
        if left:
            hint = "" if repair else " (rerun with --repair to fix the mirror)"
            raise CommandError(f"drift left in {', '.join(left)}{hint}")
        if refused and entity:
            raise CommandError(f"not reconciled: {', '.join(refused)}")
