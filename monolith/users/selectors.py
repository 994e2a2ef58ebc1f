"""Reads on user accounts."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce

from monolith.users.models import User
from servicekit.events.outbox import AggregateSequence


def user_list() -> QuerySet[User]:
    return User.objects.order_by("id")


def user_from_token_claims(claims: dict[str, Any]) -> User | None:
    """`SERVICEKIT_JWT["USER_RESOLVER"]`: the account a verified access token speaks for."""
    try:
        return User.objects.get(pk=int(claims["sub"]), is_active=True)
    except (User.DoesNotExist, ValueError, KeyError):
        return None


def users_export(*, after: int = 0, limit: int = 200) -> QuerySet[User]:
    """A page of accounts by id, each with the event sequence it reflects (one statement, so
    the row and its sequence are one snapshot). Carries password hashes: staff-only export."""
    last = AggregateSequence.objects.filter(
        aggregate_type="user", aggregate_id=Cast(OuterRef("pk"), output_field=models.CharField())
    ).values("last_sequence")[:1]
    return (
        User.objects.filter(pk__gt=after)
        .annotate(sequence=Coalesce(Subquery(last, output_field=IntegerField()), Value(0)))
        .order_by("pk")[:limit]
    )
