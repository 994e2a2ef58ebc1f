"""Events the users tests feed the service, and a login through its API."""

from __future__ import annotations

from rest_framework.test import APIClient

from contracts.users import UserCreatedV1, UserPasswordChangedV1

PASSWORD = "a-long-pass-phrase"


def login(client: APIClient, username: str, password: str = PASSWORD) -> dict:
    response = client.post(
        "/api/v1/auth/token", {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def user_created(user_id: int, username: str = "carol", **overrides) -> UserCreatedV1:
    fields = {
        "user_id": user_id,
        "username": username,
        "email": f"{username}@example.com",
        "first_name": "",
        "last_name": "",
        "is_staff": False,
        "is_active": True,
        "date_joined": "2026-01-01T00:00:00+00:00",
        **overrides,
    }
    return UserCreatedV1(**fields)


def password_changed(user_id: int, password: str = PASSWORD) -> UserPasswordChangedV1:
    from django.contrib.auth.hashers import make_password

    return UserPasswordChangedV1(user_id=user_id, password_hash=make_password(password))
