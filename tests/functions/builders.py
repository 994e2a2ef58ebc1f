"""Envelopes the function tests deliver: the notifications tests' events, as on the wire."""

from __future__ import annotations

from tests.extracted.notifications.builders import CUSTOMER, order_placed, user_created
from tests.support.envelopes import envelope


def placed_json(order_id: int, *, customer_id: int = CUSTOMER) -> tuple[str, str]:
    """(event id, envelope JSON) of an order placed by `customer_id`."""
    placed = envelope(order_placed(order_id, customer_id=customer_id), origin="orders")
    return str(placed.event_id), placed.to_json()


def customer_json(user_id: int = CUSTOMER, *, email: str = "carol@example.com") -> str:
    return envelope(user_created(user_id, email=email), origin="users").to_json()
