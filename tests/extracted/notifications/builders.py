"""Events the notifications tests feed the service, for the customer CUSTOMER by default."""

from __future__ import annotations

from contracts.orders import OrderCancelledV1, OrderConfirmedV1, OrderLineV1, OrderPlacedV1
from contracts.users import UserCreatedV1, UserUpdatedV1

CUSTOMER = 2


def order_placed(order_id: int, *, customer_id: int = CUSTOMER) -> OrderPlacedV1:
    return OrderPlacedV1(
        order_id=order_id,
        customer_id=customer_id,
        lines=(OrderLineV1(sku="MUG-1", name="Mug", quantity=1, unit_price="3.00"),),
        total="3.00",
        currency="EUR",
        status="pending",
    )


def order_confirmed(order_id: int, *, customer_id: int = CUSTOMER) -> OrderConfirmedV1:
    return OrderConfirmedV1(order_id=order_id, customer_id=customer_id)


def order_cancelled(order_id: int, *, customer_id: int = CUSTOMER) -> OrderCancelledV1:
    return OrderCancelledV1(order_id=order_id, customer_id=customer_id, reason="out of coffee")


def _user_fields(user_id: int, email: str) -> dict:
    return {
        "user_id": user_id,
        "username": f"user{user_id}",
        "email": email,
        "first_name": "",
        "last_name": "",
        "is_staff": False,
        "is_active": True,
    }


def user_created(user_id: int = CUSTOMER, *, email: str = "carol@example.com") -> UserCreatedV1:
    return UserCreatedV1(**_user_fields(user_id, email), date_joined="2026-01-01T00:00:00+00:00")


def user_updated(user_id: int = CUSTOMER, *, email: str) -> UserUpdatedV1:
    return UserUpdatedV1(**_user_fields(user_id, email))
