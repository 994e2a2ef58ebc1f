"""Writes on user accounts, each in one transaction with its outbox event.

While `ownership.yaml` names another owner of `user` (the users service, migrations_plan/
chapter 08), registration and profile writes are refused here and the `*_apply_*` functions
mirror the owner's events, password hashes included, so the storefront's session login
(`authenticate()` against this table) keeps working for every account.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from contracts.users import UserCreatedV1, UserPasswordChangedV1, UserUpdatedV1
from monolith.users.models import User
from servicekit.events.outbox import outbox_enqueue
from servicekit.migration.ownership import require_ownership
from servicekit.migration.sequences import id_sequence_catch_up
from servicekit.web.errors import UnauthorizedError
from servicekit.web.jwt.conf import local_key_resolver, signing_key, token_policy
from servicekit.web.jwt.tokens import ACCESS, REFRESH, TokenError, token_decode, token_issue

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
    require_ownership("user")
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
    outbox_enqueue(UserPasswordChangedV1(user_id=user.pk, password_hash=user.password))
    return user


@transaction.atomic
def user_update_profile(*, user: User, **changes: str) -> User:
    require_ownership("user")
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
            key_for_kid=local_key_resolver(),
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


# --- mirroring the owner's events (the inbox calls these inside its transaction) -----------


def user_apply_created(event: UserCreatedV1) -> None:
    """Same id as the owner's (tokens and orders name users by id); no password until its
    `password_changed` event, which follows in the same stream."""
    user = User.objects.filter(pk=event.user_id).first() or User(pk=event.user_id)
    if user.password == "":
        user.set_unusable_password()
    user.username, user.email = event.username, event.email
    user.first_name, user.last_name = event.first_name, event.last_name
    user.is_staff, user.is_active = event.is_staff, event.is_active
    user.date_joined = datetime.fromisoformat(event.date_joined)
    user.save()
    id_sequence_catch_up(User)


def user_apply_updated(event: UserUpdatedV1) -> None:
    User.objects.filter(pk=event.user_id).update(
        username=event.username,
        email=event.email,
        first_name=event.first_name,
        last_name=event.last_name,
        is_staff=event.is_staff,
        is_active=event.is_active,
    )


def user_apply_password_changed(event: UserPasswordChangedV1) -> None:
    User.objects.filter(pk=event.user_id).update(password=event.password_hash)
