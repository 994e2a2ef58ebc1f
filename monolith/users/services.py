"""Writes on user accounts, each in one transaction with its outbox event."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from contracts.users import UserCreatedV1, UserUpdatedV1
from monolith.users.models import User
from servicekit.errors import UnauthorizedError
from servicekit.jwt.conf import signing_key, token_policy
from servicekit.jwt.tokens import ACCESS, REFRESH, TokenError, token_decode, token_issue
from servicekit.jwt.verifiers import LocalKeys
from servicekit.outbox import outbox_enqueue

PROFILE_FIELDS = ("email", "first_name", "last_name")


def _updated_event(user: User) -> UserUpdatedV1:
    return UserUpdatedV1(
        user_id=user.pk,
        username=user.username,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        is_staff=user.is_staff,
        is_active=user.is_active,
    )


@transaction.atomic
def user_register(
    *,
    username: str,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    is_staff: bool = False,
) -> User:
    """Create an account; the caller has validated uniqueness, the database enforces it again."""
    user = User(
        username=username,
        email=email.lower(),
        first_name=first_name,
        last_name=last_name,
        is_staff=is_staff,
    )
    validate_password(password, user)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    outbox_enqueue(
        UserCreatedV1(
            user_id=user.pk,
            username=user.username,
            email=user.email,
            first_name=user.first_name,
            last_name=user.last_name,
            is_staff=user.is_staff,
            is_active=user.is_active,
            date_joined=user.date_joined.isoformat(),
        )
    )
    return user


@transaction.atomic
def user_update_profile(*, user: User, **changes: str) -> User:
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    if "email" in changes:
        changes["email"] = changes["email"].lower()
    fields = [name for name, value in changes.items() if getattr(user, name) != value]
    if not fields:
        return user
    for name in fields:
        setattr(user, name, changes[name])
    user.full_clean(exclude=["password"])
    user.save(update_fields=fields)
    outbox_enqueue(_updated_event(user))
    return user


def _claims(user: User) -> dict:
    return {"username": user.username, "is_staff": user.is_staff}


def token_pair_issue(*, user: User) -> dict[str, str]:
    key, policy = signing_key(), token_policy()
    subject = str(user.pk)
    return {
        "access": token_issue(
            key=key, policy=policy, subject=subject, token_type=ACCESS, claims=_claims(user)
        ),
        "refresh": token_issue(key=key, policy=policy, subject=subject, token_type=REFRESH),
    }


def token_refresh(*, refresh: str) -> dict[str, str]:
    """A fresh access token for a valid refresh token whose user is still active."""
    try:
        claims = token_decode(
            refresh,
            policy=token_policy(),
            key_for_kid=LocalKeys([signing_key()]),
            expected_type=REFRESH,
        )
    except TokenError as exc:
        raise UnauthorizedError(str(exc), code="invalid_token") from exc
    user = User.objects.filter(pk=claims["sub"], is_active=True).first()
    if user is None:
        raise UnauthorizedError("user is unknown or inactive", code="invalid_token")
    access = token_issue(
        key=signing_key(),
        policy=token_policy(),
        subject=str(user.pk),
        token_type=ACCESS,
        claims=_claims(user),
    )
    return {"access": access}
