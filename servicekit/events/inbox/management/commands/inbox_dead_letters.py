"""`manage.py inbox_dead_letters [list|show ID|replay ID...|replay --all] [--consumer NAME]`."""

import json
import uuid

from django.core.management.base import BaseCommand, CommandError

from servicekit.events.inbox.models import InboxParked
from servicekit.events.inbox.services import inbox_replay_dead


class Command(BaseCommand):
    help = "List parked inbox events (dead, failed, waiting for a predecessor); replay dead ones."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "show", "replay"])
        parser.add_argument("event_ids", nargs="*", type=uuid.UUID)
        parser.add_argument("--consumer", default=None)
        parser.add_argument("--all", action="store_true")

    def handle(self, *args, action, event_ids, **options):
        rows = InboxParked.objects.order_by(
            "consumer", "aggregate_type", "aggregate_id", "sequence"
        )
        if options["consumer"]:
            rows = rows.filter(consumer=options["consumer"])
        if action == "list":
            for row in rows[:500]:
                self.stdout.write(
                    f"{row.consumer}  {row.reason}  {row.event_id}  {row.event_type}  "
                    f"{row.aggregate_type}:{row.aggregate_id}#{row.sequence}  "
                    f"attempts={row.attempts}  {row.last_error[:80]}"
                )
        elif action == "show":
            row = rows.filter(event_id__in=event_ids).first() if len(event_ids) == 1 else None
            if row is None:
                raise CommandError("show takes one parked event id")
            detail = {
                "reason": row.reason,
                "attempts": row.attempts,
                "error": row.last_error,
                "envelope": row.envelope,
            }
            self.stdout.write(json.dumps(detail, indent=2, default=str))
        else:
            if not event_ids and not options["all"]:
                raise CommandError("replay takes event ids, or --all")
            count = inbox_replay_dead(consumer=options["consumer"], event_ids=event_ids or None)
            self.stdout.write(f"replayed {count} dead inbox events (retried by the consumer)")
