"""Reads of the inbox: parked events per consumer and state."""

from __future__ import annotations

from django.db.models import Count

from servicekit.events.inbox.models import InboxParked


def inbox_stats() -> dict[tuple[str, str], int]:
    return {
        (row["consumer"], row["reason"]): row["n"]
        for row in InboxParked.objects.values("consumer", "reason").annotate(n=Count("pk"))
    }
