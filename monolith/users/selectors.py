"""Reads on user accounts."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from monolith.users.models import User


def user_list() -> QuerySet[User]:
    return User.objects.order_by("id")


def user_from_token_claims(claims: dict[str, Any]) -> User | None:
    """`SERVICEKIT_JWT["USER_RESOLVER"]`: the account a verified access token speaks for."""
    try:
        return User.objects.get(pk=int(claims["sub"]), is_active=True)
    except (User.DoesNotExist, ValueError, KeyError):
        return None
