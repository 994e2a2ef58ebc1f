"""Declaring consumers: `consumer = EventConsumer("monolith.notifications")` + `@consumer.on(...)`.

A service lists its handlers in `<app>/consumers.py`; `autodiscover()` imports those modules.
The consumer's name is also its queue's name in the topology.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts.base import Event
from contracts.envelope import Envelope
from contracts.registry import latest_type

Handler = Callable[[Any, Envelope], None]

_consumers: dict[str, EventConsumer] = {}


class EventConsumer:
    def __init__(self, name: str):
        if name in _consumers:
            raise ValueError(f"consumer {name!r} is declared twice")
        self.name = name
        self.handlers: dict[str, Handler] = {}
        _consumers[name] = self

    def on(self, event_class: type[Event]) -> Callable[[Handler], Handler]:
        """Register `handler(event, envelope)` for `event_class` and every older version of it.

        Handlers run inside the inbox's transaction; they must not call a broker (use the outbox).
        """
        if latest_type(event_class.event_type) != event_class.event_type:
            raise ValueError(
                f"{event_class.event_type} is upcast to {latest_type(event_class.event_type)}: "
                "handle the newest version"
            )

        def register(handler: Handler) -> Handler:
            self.handlers[event_class.event_type] = handler
            return handler

        return register

    def handler_for(self, event_type: str) -> Handler | None:
        return self.handlers.get(latest_type(event_type))


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
