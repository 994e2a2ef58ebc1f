"""Who consumes what: one queue per consuming service, bound to the event types it reads.

Pure data shared by every process. The relay declares the whole topology before it publishes, so
no event is dropped because its consumer has not started yet, and so kombu's filesystem
transport (which keeps topic bindings in process memory) routes in the relay's process too.
"""

from __future__ import annotations

EXCHANGE = "strangler.events"

# queue name -> binding keys (AMQP topic patterns: `*` one word, `#` zero or more words).
# Bind whole aggregate streams (`orders.#`), not single event types: the inbox applies an
# aggregate's events in sequence order, so it must see every one of them (it skips, in order,
# the types it has no handler for).
SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "monolith.notifications": ("orders.#", "notifications.#"),
    # While catalog data is replicated, both sides read the whole catalog stream: the side that
    # does not own an entity mirrors the owner's events (servicekit.events.inbox.mirror).
    # The catalog service also takes the checkout saga's stock commands (reserve, release,
    # commit, return) once it owns inventory (migrations_plan/ chapter 07).
    "catalog": ("catalog.#", "checkout.#"),
    "monolith.catalog": ("catalog.#",),
    # While the orders service owns orders, the monolith mirrors them, so they can be handed
    # back (migrations_plan/ chapter 07, rollback: orders_handback).
    "monolith.orders": ("orders.#",),
    # The orders service: its checkout saga reads the replies (stock, payments); it copies the
    # monolith's orders until it owns them and projects every order event into the history read
    # model; it keeps a product/price/stock replica so placing an order never calls catalog.
    "orders": ("orders.#", "catalog.#", "stock.#", "payments.#"),
    # The fake payment provider (extracted/orders/payments): charges and refunds on command.
    "orders.payments": ("checkout.#",),
    # The notifications service makes notifications from orders and emails the users it knows;
    # each side mirrors the other's notification events (created, read) while they are replicated.
    "notifications": ("orders.#", "users.#", "notifications.#"),
    # While user accounts are replicated (migrations_plan/ chapter 08), the monolith and the
    # users service each mirror the other's user events, password hashes included.
    "users": ("users.#",),
    "monolith.users": ("users.#",),
}

# What every service's settings give the event plumbing (servicekit.events.settings).
SERVICEKIT_EVENTS = {"EXCHANGE": EXCHANGE, "SUBSCRIPTIONS": SUBSCRIPTIONS}
