"""Declaring consumers: `consumer = EventConsumer("notifications", event_types=...)` + `@consumer.on(...)`.

A service lists its handlers in `<app>/consumers.py`; `autodiscover()` imports those modules.
The consumer's name is also its queue's name in the topology. `event_types` (the project's
`servicekit.events.types.EventTypes`) lifts older versions of an event to the newest one; without
it, an event is decoded by the class its handler was registered for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from servicekit.events.envelope import Envelope
from servicekit.events.event import Event
from servicekit.events.types import EventTypes

Handler = Callable[[Any, Envelope], None]

_consumers: dict[str, EventConsumer] = {}


class EventConsumer:
    def __init__(self, name: str, *, event_types: EventTypes | None = None):
        if name in _consumers:
            raise ValueError(f"consumer {name!r} is declared twice")
        self.name = name
        self.event_types = event_types or EventTypes()
        self.handlers: dict[str, Handler] = {}
        self.classes: dict[str, type[Event]] = {}
        _consumers[name] = self

    def on(self, event_class: type[Event]) -> Callable[[Handler], Handler]:
        """Register `handler(event, envelope)` for `event_class` and every older version of it.

        Handlers run inside the inbox's transaction; they must not call a broker (use the outbox).
        """
        latest = self.event_types.latest_type(event_class.event_type)
        if latest != event_class.event_type:
            raise ValueError(
                f"{event_class.event_type} is upcast to {latest}: handle the newest version"
            )

        def register(handler: Handler) -> Handler:
            self.handlers[event_class.event_type] = handler
            self.classes[event_class.event_type] = event_class
            return handler

        return register

    def handler_for(self, event_type: str) -> Handler | None:
        return self.handlers.get(self.event_types.latest_type(event_type))

    def decode(self, envelope: Envelope) -> Event:
        """The envelope's payload as the newest version's class (its handler's, when it has one)."""
        event_type, payload = self.event_types.upcast(envelope.event_type, envelope.payload)
        event_class = self.classes.get(event_type) or self.event_types.event_class(event_type)
        return event_class.from_payload(payload)


def get_consumer(name: str) -> EventConsumer:
    autodiscover()
    try:
        return _consumers[name]
    except KeyError:
        raise LookupError(f"no consumer named {name!r}; known: {sorted(_consumers)}") from None


def all_consumers() -> dict[str, EventConsumer]:
    autodiscover()
    return dict(_consumers)


def autodiscover() -> None:
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("consumers")
