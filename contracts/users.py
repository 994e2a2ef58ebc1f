"""Events about user accounts (aggregate: user)."""

from __future__ import annotations

from dataclasses import dataclass

from servicekit.events.event import Event


@dataclass(frozen=True)
class UserCreatedV1(Event):
    event_type = "users.user_created.v1"
    aggregate_type = "user"

    user_id: int
    username: str
    email: str
    first_name: str
    last_name: str
    is_staff: bool
    is_active: bool
    date_joined: str

    @property
    def aggregate_id(self) -> str:
        return str(self.user_id)


@dataclass(frozen=True)
class UserUpdatedV1(Event):
    event_type = "users.user_updated.v1"
    aggregate_type = "user"

    user_id: int
    username: str
    email: str
    first_name: str
    last_name: str
    is_staff: bool
    is_active: bool

    @property
    def aggregate_id(self) -> str:
        return str(self.user_id)


@dataclass(frozen=True)
class UserPasswordChangedV1(Event):
    """A new password *hash* (Django's `algorithm$...` string, never the password): the
    identity copies apply it so `authenticate()` works on either side while `user` moves.
    Only the monolith's and the users service's identity consumers read it."""

    event_type = "users.password_changed.v1"
    aggregate_type = "user"

    user_id: int
    password_hash: str

    @property
    def aggregate_id(self) -> str:
        return str(self.user_id)
