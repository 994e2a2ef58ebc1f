"""Events about user accounts (aggregate: user)."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.base import Event


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
