"""`manage.py outbox_dead_letters [list|show ID|replay ID...|replay --all]`."""

import json
import uuid

from django.core.management.base import BaseCommand, CommandError

from servicekit.events.outbox.models import OutboxMessage, OutboxStatus
from servicekit.events.outbox.selectors import outbox_dead_letters
from servicekit.events.outbox.services import outbox_replay_dead


class Command(BaseCommand):
    help = "List, inspect and replay outbox events that failed to publish too often."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "show", "replay"])
        parser.add_argument("event_ids", nargs="*", type=uuid.UUID)
        parser.add_argument("--all", action="store_true", help="replay every dead letter")
        parser.add_argument("--limit", type=int, default=100)

    def handle(self, *args, action, event_ids, **options):
        if action == "list":
            for row in outbox_dead_letters(limit=options["limit"]):
                error = row.last_error.splitlines()[0][:80] if row.last_error else ""
                self.stdout.write(
                    f"{row.event_id}  {row.event_type}  {row.aggregate_type}:{row.aggregate_id}"
                    f"#{row.sequence}  attempts={row.attempts}  {error}"
                )
        elif action == "show":
            if len(event_ids) != 1:
                raise CommandError("show takes exactly one event id")
            row = OutboxMessage.objects.filter(event_id=event_ids[0]).first()
            if row is None:
                raise CommandError(f"no outbox row {event_ids[0]}")
            detail = {
                **row.to_envelope().to_dict(),
                "status": row.status,
                "attempts": row.attempts,
                "last_error": row.last_error,
            }
            self.stdout.write(json.dumps(detail, indent=2, default=str))
        else:
            if not event_ids and not options["all"]:
                raise CommandError("replay takes event ids, or --all")
            count = outbox_replay_dead(event_ids=event_ids or None, all_dead=options["all"])
            left = OutboxMessage.objects.filter(status=OutboxStatus.DEAD).count()
            self.stdout.write(f"replayed {count}; {left} dead letters left")
